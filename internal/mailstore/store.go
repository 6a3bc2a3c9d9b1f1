package mailstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mssante/mssante/internal/fold"
	"github.com/mssante/mssante/internal/patients"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/message"
)

// timeFormat is how times are stored: UTC, fixed width, so that text order is time order.
const timeFormat = "2006-01-02T15:04:05Z"

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeFormat)
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(timeFormat, s)
	return t
}

// KnownPatients finds the known patients with an INS matricule; *patients.Store satisfies it.
type KnownPatients interface {
	ByMatricule(ctx context.Context, matricule string) ([]patients.Patient, error)
}

// Options configure a Store; nil means defaults.
type Options struct {
	// PatientDomain is the patients' mail domain (ins.DefaultPatientDomain when empty).
	PatientDomain string
	// Patients, when set, matches the documents' INS with the known patients at sync time.
	Patients KnownPatients
	// Now gives the time of the sync records. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Store is the local mail index of one database.
type Store struct {
	db    *store.DB
	opts  Options
	packs *packs // SQLite: where the bodies are; nil for PostgreSQL
}

// ErrNotFound: no such account, folder or message in the index.
var ErrNotFound = errors.New("mailstore: not found")

// New returns the index kept in db, whose schema Migrations created.
func New(db *store.DB, opts *Options) *Store {
	s := &Store{db: db}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
	if s.opts.Logger == nil {
		s.opts.Logger = slog.New(slog.DiscardHandler)
	}
	if db.Dialect() == store.SQLite && db.Path() != "" {
		s.packs = newPacks(db.Path()+"-bodies", s.opts.Now)
	}
	return s
}

// DB returns the database of the index.
func (s *Store) DB() *store.DB { return s.db }

func (s *Store) readOptions() *message.ReadOptions {
	// The index needs the text, the reports and the XDM documents, not the other attachments.
	return &message.ReadOptions{PatientDomain: s.opts.PatientDomain, SkipAttachmentData: true}
}

// accountID returns the id of account, creating it when create is set.
func (s *Store) accountID(ctx context.Context, account string, create bool) (int64, error) {
	account = strings.ToLower(strings.TrimSpace(account))
	var id int64
	err := s.db.QueryRowContext(ctx, `SELECT id FROM mail_accounts WHERE address = ?`, account).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) && create {
		err = s.db.InTx(ctx, func(tx *store.Tx) error {
			return tx.QueryRowContext(ctx, `INSERT INTO mail_accounts (address) VALUES (?)
				ON CONFLICT (address) DO UPDATE SET address = excluded.address RETURNING id`, account).Scan(&id)
		})
	}
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("account %s: %w", account, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("reading account %s: %w", account, err)
	}
	return id, nil
}

// folderState is what the index remembers of a server folder.
type folderState struct {
	ID            int64
	Name          string
	UIDValidity   uint32
	HighestModSeq uint64
}

func (s *Store) folder(ctx context.Context, accountID int64, name string) (folderState, error) {
	f := folderState{Name: name}
	var uv, hm int64
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO mail_folders (account_id, name) VALUES (?, ?)
			ON CONFLICT (account_id, name) DO UPDATE SET name = excluded.name
			RETURNING id, uidvalidity, highestmodseq`, accountID, name).Scan(&f.ID, &uv, &hm)
	})
	if err != nil {
		return f, fmt.Errorf("reading folder %s: %w", name, err)
	}
	f.UIDValidity, f.HighestModSeq = uint32(uv), uint64(hm)
	return f, nil
}

// local is a message the index holds, as the sync engine compares it with the server.
type local struct {
	ID          int64
	UID         uint32
	UIDValidity uint32
	MessageID   string
	Size        int64
	Flags       string
}

func (s *Store) locals(ctx context.Context, folderID int64) ([]local, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, uid, uidvalidity, message_id, size, flags
		FROM mail_messages WHERE folder_id = ? ORDER BY uid`, folderID)
	if err != nil {
		return nil, fmt.Errorf("reading the local messages: %w", err)
	}
	defer rows.Close()
	var out []local
	for rows.Next() {
		var l local
		var uid, uv int64
		if err := rows.Scan(&l.ID, &uid, &uv, &l.MessageID, &l.Size, &l.Flags); err != nil {
			return nil, fmt.Errorf("reading the local messages: %w", err)
		}
		l.UID, l.UIDValidity = uint32(uid), uint32(uv)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the local messages: %w", err)
	}
	return out, nil
}

// fetched is one message as the sync engine brings it in.
type fetched struct {
	UID, UIDValidity uint32
	InternalDate     time.Time
	Size             int64
	ModSeq           uint64
	Flags            []string
	Raw              []byte // nil when over the size cap: indexed from the envelope only
	// Envelope, used when Raw is nil.
	Subject, MessageID, From string
	Date                     time.Time
}

// insert stores one message, its body, references, documents and reports in one transaction.
// It returns the id of the new row, 0 when the folder already holds the UID (another process was
// first).
func (s *Store) insert(ctx context.Context, accountID, folderID int64, f *fetched) (int64, error) {
	e := s.entryOf(f)
	names := s.matchPatients(ctx, e)
	refs, err := s.storeBodies([]*fetched{f})
	if err != nil {
		return 0, fmt.Errorf("storing message UID %d: %w", f.UID, err)
	}
	var ids []int64
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		ids, err = insertAllTx(ctx, tx, accountID, folderID, []newMessage{{f: f, e: e, names: names, body: refs[0]}})
		return err
	})
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// entryOf indexes a fetched message: its body, or its envelope when it has none.
func (s *Store) entryOf(f *fetched) *entry {
	var e *entry
	if f.Raw != nil {
		e = index(f.Raw, s.readOptions())
	} else {
		e = &entry{MessageID: strings.Trim(f.MessageID, "<>"), Subject: f.Subject, Display: message.DisplaySubject(f.Subject),
			Date: f.Date, Kind: SenderProfessional, Warnings: []string{"message trop volumineux : corps non conservé"}}
		if a, err := message.ParseAddress(f.From); err == nil {
			e.FromAddr, e.FromName = strings.ToLower(a.Addr), a.Name
		}
		e.Text = fold.Words(e.Display + "\n" + e.FromName + "\n" + e.FromAddr)
	}
	return e
}

// The statements of insertTx, prepared once per transaction (store.Tx.PrepareContext).
const (
	insertMessageSQL = `INSERT INTO mail_messages (account_id, folder_id, uid, uidvalidity,
		message_id, date, internal_date, from_addr, from_name, sender_kind, patient_birth_name,
		patient_given_names, patient_ins, subject, display_subject, flags, seen, size, modseq,
		thread_id, sort_sender, sort_subject, sort_patient, has_body, warnings, search_text)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (folder_id, uid) DO NOTHING RETURNING id`
	insertBodySQL     = `INSERT INTO mail_bodies (message_ref, body) VALUES (?, ?)`
	insertBodyFileSQL = `INSERT INTO mail_body_files (message_ref, pack, pos, len_bytes, crc32c) VALUES (?, ?, ?, ?, ?)`
	insertRefSQL      = `INSERT INTO mail_refs (message_ref, ref) VALUES (?, ?)`
	insertDocumentSQL = `INSERT INTO mail_documents (message_ref, seq, type_code, type_label,
		patient_id, patient_ins, patient_oid, known_patient, unique_id, title, level)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertReportSQL = `INSERT INTO mail_reports (message_ref, kind, recipient, action, status,
		disposition, reason, original_message_id, original_envelope_id, failed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// newMessage is one message for insertAllTx: what insertTx stores.
type newMessage struct {
	f     *fetched
	e     *entry
	names map[int64]string
	body  *bodyRef // nil: the body, if any, goes in mail_bodies
}

// insertAllTx stores msgs in tx (insertTx each), then their full text in one statement
// (indexTextTx). It returns the id of each, 0 for a UID the folder held already.
func insertAllTx(ctx context.Context, tx *store.Tx, accountID, folderID int64, msgs []newMessage) ([]int64, error) {
	ids := make([]int64, len(msgs))
	for i, m := range msgs {
		id, err := insertTx(ctx, tx, accountID, folderID, m.f, m.e, m.names, m.body)
		if err != nil {
			return nil, fmt.Errorf("storing message UID %d: %w", m.f.UID, err)
		}
		ids[i] = id
	}
	return ids, indexTextTx(ctx, tx, ids...)
}

// indexTextTx adds the messages of ids, inserted by tx, to the full-text index of SQLite (the
// generated column of PostgreSQL needs nothing). insertAllTx calls it once, after the
// transaction's inserts: FTS5 writes its pending terms to disk at each statement savepoint of a transaction
// that touched it, so one statement at the end keeps them in memory until the commit. Ids of 0
// (the UID was already stored) are skipped.
func indexTextTx(ctx context.Context, tx *store.Tx, ids ...int64) error {
	if tx.Dialect() != store.SQLite {
		return nil
	}
	args := make([]any, 0, len(ids))
	for _, id := range ids {
		if id != 0 {
			args = append(args, id)
		}
	}
	if len(args) == 0 {
		return nil
	}
	q := `INSERT INTO mail_fts (rowid, search_text) SELECT id, search_text FROM mail_messages WHERE id IN (` +
		placeholders(len(args)) + `)`
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("indexing the text of %d messages: %w", len(args), err)
	}
	return nil
}

// execPrepared runs one of insertTx's statements.
func execPrepared(ctx context.Context, tx *store.Tx, query string, args ...any) error {
	st, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

// storeBodies puts the bodies of fs in the packs, durably, before the transaction that refers
// to them; it returns where each is, nil for a message without body or when the bodies go in
// mail_bodies (PostgreSQL).
func (s *Store) storeBodies(fs []*fetched) ([]*bodyRef, error) {
	out := make([]*bodyRef, len(fs))
	if s.packs == nil {
		return out, nil
	}
	var bodies [][]byte
	for _, f := range fs {
		if f.Raw != nil {
			bodies = append(bodies, f.Raw)
		}
	}
	if len(bodies) == 0 {
		return out, nil
	}
	refs, err := s.packs.append(bodies)
	if err != nil {
		return nil, err
	}
	for i, f := range fs {
		if f.Raw != nil {
			out[i], refs = &refs[0], refs[1:]
		}
	}
	return out, nil
}

// insertTx stores one message in tx; its body in mail_bodies, or where body says (storeBodies).
func insertTx(ctx context.Context, tx *store.Tx, accountID, folderID int64, f *fetched, e *entry, names map[int64]string, body *bodyRef) (int64, error) {
	flags := normFlags(f.Flags)
	p := e.Patient
	if p == nil {
		p = &Patient{}
	}
	date := e.Date
	if date.IsZero() {
		date = f.InternalDate
	}
	var id int64
	ins, err := tx.PrepareContext(ctx, insertMessageSQL)
	if err != nil {
		return 0, err
	}
	err = ins.QueryRowContext(ctx, accountID, folderID, int64(f.UID), int64(f.UIDValidity), e.MessageID, formatTime(date),
		formatTime(f.InternalDate), e.FromAddr, e.FromName, string(e.Kind), p.BirthName, p.GivenNames,
		p.INS, e.Subject, e.Display, strings.Join(flags, " "), boolInt(hasFlag(flags, `\Seen`)),
		f.Size, int64(f.ModSeq), e.threadID(), e.senderKey(), e.subjectKey(), e.patientKey(names),
		boolInt(f.Raw != nil), strings.Join(e.Warnings, "\n"), e.Text).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	switch {
	case body != nil:
		if err := execPrepared(ctx, tx, insertBodyFileSQL, id, body.Pack, body.Offset, body.Length, int64(body.CRC)); err != nil {
			return 0, err
		}
	case f.Raw != nil:
		if err := execPrepared(ctx, tx, insertBodySQL, id, f.Raw); err != nil {
			return 0, err
		}
	}
	refs := map[string]bool{}
	for _, r := range append(append([]string(nil), e.References...), e.InReplyTo...) {
		if r != "" && !refs[r] {
			refs[r] = true
			if err := execPrepared(ctx, tx, insertRefSQL, id, r); err != nil {
				return 0, err
			}
		}
	}
	for i, d := range e.Documents {
		if err := execPrepared(ctx, tx, insertDocumentSQL, id, i, d.TypeCode, d.TypeLabel, d.PatientID, d.INS,
			d.OID, d.KnownPatient, d.UniqueID, d.Title, d.Level); err != nil {
			return 0, err
		}
	}
	for _, r := range e.Reports {
		if err := execPrepared(ctx, tx, insertReportSQL, id, r.Kind, r.Recipient, r.Action, r.Status, r.Disposition, r.Reason, r.OriginalMessageID,
			r.OriginalEnvelopeID, boolInt(r.Failed)); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// matchPatients sets the known patient of each document and returns their names by id.
func (s *Store) matchPatients(ctx context.Context, e *entry) map[int64]string {
	names := map[int64]string{}
	if s.opts.Patients == nil {
		return names
	}
	for i := range e.Documents {
		d := &e.Documents[i]
		if d.INS == "" {
			continue
		}
		found, err := s.opts.Patients.ByMatricule(ctx, d.INS)
		if err != nil {
			s.opts.Logger.Warn("known patient lookup failed", "err", err)
			continue
		}
		if len(found) == 1 {
			d.KnownPatient = found[0].ID
			id := found[0].Identity
			names[d.KnownPatient] = id.BirthName + " " + firstNonEmpty(id.GivenNames, id.FirstName)
		}
	}
	return names
}

// setFlags records the flags the server gave for uid.
func (s *Store) setFlags(ctx context.Context, folderID int64, uid uint32, flags []string, modseq uint64) error {
	fl := normFlags(flags)
	_, err := s.db.ExecContext(ctx, `UPDATE mail_messages SET flags = ?, seen = ?, modseq = ?
		WHERE folder_id = ? AND uid = ?`, strings.Join(fl, " "), boolInt(hasFlag(fl, `\Seen`)), int64(modseq), folderID, int64(uid))
	if err != nil {
		return fmt.Errorf("updating the flags of UID %d: %w", uid, err)
	}
	return nil
}

// remove deletes messages the server no longer holds.
func (s *Store) remove(ctx context.Context, ids []int64) error {
	for len(ids) > 0 {
		n := min(len(ids), 200)
		batch := ids[:n]
		ids = ids[n:]
		q := `DELETE FROM mail_messages WHERE id IN (` + placeholders(len(batch)) + `)`
		args := make([]any, len(batch))
		for i, id := range batch {
			args[i] = id
		}
		if err := s.db.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, q, args...)
			return err
		}); err != nil {
			return fmt.Errorf("removing expunged messages: %w", err)
		}
	}
	return nil
}

// remap gives a message kept across a UIDVALIDITY change its new UID.
func (s *Store) remap(ctx context.Context, id int64, uid, uidvalidity uint32, flags []string, modseq uint64) error {
	fl := normFlags(flags)
	_, err := s.db.ExecContext(ctx, `UPDATE mail_messages SET uid = ?, uidvalidity = ?, flags = ?, seen = ?, modseq = ?
		WHERE id = ?`, int64(uid), int64(uidvalidity), strings.Join(fl, " "), boolInt(hasFlag(fl, `\Seen`)), int64(modseq), id)
	if err != nil {
		return fmt.Errorf("re-mapping message to UID %d: %w", uid, err)
	}
	return nil
}

// saveFolder records the folder's state after its messages were committed; UIDNEXT is the
// highest UID stored plus one (Resync does not give the server's).
func (s *Store) saveFolder(ctx context.Context, f folderState, syncErr error) error {
	msg := ""
	if syncErr != nil {
		msg = syncErr.Error()
	}
	q := `UPDATE mail_folders SET uidvalidity = ?, highestmodseq = ?, synced_at = ?, last_error = ?,
		uidnext = COALESCE((SELECT MAX(uid) FROM mail_messages WHERE folder_id = ?), 0) + 1 WHERE id = ?`
	args := []any{int64(f.UIDValidity), int64(f.HighestModSeq), formatTime(s.opts.Now()), msg, f.ID, f.ID}
	if syncErr != nil { // keep the state: only the error is new
		q = `UPDATE mail_folders SET last_error = ? WHERE id = ?`
		args = []any{msg, f.ID}
	}
	if _, err := s.db.ExecContext(context.WithoutCancel(ctx), q, args...); err != nil {
		return fmt.Errorf("saving folder %s: %w", f.Name, err)
	}
	return nil
}

// dropFoldersBut removes the account's folders not in keep (deleted on the server) and returns
// the number of messages they held.
func (s *Store) dropFoldersBut(ctx context.Context, accountID int64, keep []string) (int, error) {
	args := []any{accountID}
	cond := ""
	if len(keep) > 0 {
		cond = " AND name NOT IN (" + placeholders(len(keep)) + ")"
		for _, k := range keep {
			args = append(args, k)
		}
	}
	var n int
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM mail_messages WHERE folder_id IN
			(SELECT id FROM mail_folders WHERE account_id = ?`+cond+`)`, args...).Scan(&n); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM mail_folders WHERE account_id = ?`+cond, args...)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("removing folders deleted on the server: %w", err)
	}
	return n, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}
