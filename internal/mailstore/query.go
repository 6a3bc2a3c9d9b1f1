package mailstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mssante/mssante/internal/fold"
	"github.com/mssante/mssante/internal/store"
)

// Message is one message of the index, as lists show it.
type Message struct {
	ID           int64      `json:"id"`
	Account      string     `json:"account"`
	Folder       string     `json:"folder"`
	UID          uint32     `json:"uid"`
	MessageID    string     `json:"message_id"`
	Date         time.Time  `json:"date"`
	InternalDate time.Time  `json:"internal_date"`
	From         string     `json:"from"`
	FromName     string     `json:"from_name,omitempty"`
	SenderKind   SenderKind `json:"sender_kind"`
	// Patient is set for a patient sender (ECO.3.1.2).
	Patient *Patient `json:"patient,omitempty"`
	Subject string   `json:"subject"`
	// DisplaySubject is the subject without the XDM prefix (ECO.3.1.3).
	DisplaySubject string     `json:"display_subject"`
	Documents      []Document `json:"documents"`
	ThreadID       string     `json:"thread_id"`
	Flags          []string   `json:"flags"`
	Seen           bool       `json:"seen"`
	Size           int64      `json:"size"`
	// HasBody is false for a message over the size cap, indexed from its envelope only.
	HasBody bool `json:"has_body"`

	accountID int64
}

// Sort is a list order (ECO.3.2.2).
type Sort string

const (
	SortDate    Sort = "date"    // newest first
	SortSender  Sort = "sender"  // sender label (or address) A→Z, case and accents ignored
	SortSubject Sort = "subject" // display subject A→Z
	SortPatient Sort = "patient" // the patient the message is about A→Z; none last
)

// ParseSort reads "date", "sender", "subject" or "patient".
func ParseSort(s string) (Sort, error) {
	switch Sort(s) {
	case "", SortDate:
		return SortDate, nil
	case SortSender, SortSubject, SortPatient:
		return Sort(s), nil
	}
	return "", fmt.Errorf("unknown sort %q (date, sender, subject, patient)", s)
}

func (s Sort) column() string {
	switch s {
	case SortSender:
		return "sort_sender"
	case SortSubject:
		return "sort_subject"
	case SortPatient:
		return "sort_patient"
	}
	return "date"
}

// Query selects messages for List.
type Query struct {
	// Accounts are read together (several mailboxes at once, ECO.3.2.3).
	Accounts []string
	// Folders restricts to these folder names; every folder when empty.
	Folders []string
	Sort    Sort
	// Reverse flips the order (oldest first for SortDate, Z→A for the others).
	Reverse bool
	// Thread groups conversations (ECO.3.2.1): threads by their newest message, newest first
	// (oldest first with Reverse), and the messages of a thread oldest first. Limit and Offset
	// then count threads, and every message of the threads of the page is returned; Sort and
	// After do not apply.
	Thread bool
	Unseen bool
	// Limit (default 50) and Offset, or After: the Next of the previous page (keyset pagination,
	// which stays fast deep into a large mailbox).
	Limit  int
	Offset int
	After  string
}

// Page is one page of a list.
type Page struct {
	Messages []Message `json:"messages"`
	// Next is the Query.After of the following page; empty at the end.
	Next string `json:"next,omitempty"`
}

type cursor struct {
	Key string `json:"k"`
	ID  int64  `json:"i"`
}

const messageColumns = `m.id, a.address, f.name, m.uid, m.message_id, m.date, m.internal_date, m.from_addr,
	m.from_name, m.sender_kind, m.patient_birth_name, m.patient_given_names, m.patient_ins, m.subject,
	m.display_subject, m.thread_id, m.flags, m.seen, m.size, m.has_body, m.account_id`

const messageJoins = ` JOIN mail_folders f ON f.id = m.folder_id JOIN mail_accounts a ON a.id = m.account_id`

func scanMessage(rows interface{ Scan(...any) error }, extra ...any) (Message, error) {
	var m Message
	var uid int64
	var date, idate, flags string
	var seen, hasBody int
	var p Patient
	dest := []any{&m.ID, &m.Account, &m.Folder, &uid, &m.MessageID, &date, &idate, &m.From, &m.FromName,
		&m.SenderKind, &p.BirthName, &p.GivenNames, &p.INS, &m.Subject, &m.DisplaySubject, &m.ThreadID,
		&flags, &seen, &m.Size, &hasBody, &m.accountID}
	if err := rows.Scan(append(dest, extra...)...); err != nil {
		return m, err
	}
	m.UID, m.Date, m.InternalDate = uint32(uid), parseTime(date), parseTime(idate)
	m.Flags, m.Seen, m.HasBody = strings.Fields(flags), seen != 0, hasBody != 0
	if m.Flags == nil {
		m.Flags = []string{}
	}
	if m.SenderKind == SenderPatient {
		m.Patient = &p
	}
	m.Documents = []Document{}
	return m, nil
}

// scope returns the SQL condition and arguments restricting m to the accounts and folders.
func (s *Store) scope(ctx context.Context, accounts, folders []string) (string, []any, error) {
	if len(accounts) == 0 {
		return "", nil, errors.New("no account given")
	}
	var ids []any
	for _, a := range accounts {
		id, err := s.accountID(ctx, a, false)
		if err != nil {
			return "", nil, err
		}
		ids = append(ids, id)
	}
	if len(folders) == 0 {
		if len(ids) == 1 {
			return "m.account_id = ?", ids, nil
		}
		return "m.account_id IN (" + placeholders(len(ids)) + ")", ids, nil
	}
	args := append([]any(nil), ids...)
	for _, f := range folders {
		args = append(args, f)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM mail_folders WHERE account_id IN (`+placeholders(len(ids))+
		`) AND name IN (`+placeholders(len(folders))+`)`, args...)
	if err != nil {
		return "", nil, fmt.Errorf("reading folders: %w", err)
	}
	defer rows.Close()
	var fids []any
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return "", nil, fmt.Errorf("reading folders: %w", err)
		}
		fids = append(fids, id)
	}
	if err := rows.Err(); err != nil {
		return "", nil, fmt.Errorf("reading folders: %w", err)
	}
	if len(fids) == 0 {
		return "", nil, fmt.Errorf("folder %s: %w", strings.Join(folders, ", "), ErrNotFound)
	}
	if len(fids) == 1 {
		return "m.folder_id = ?", fids, nil
	}
	return "m.folder_id IN (" + placeholders(len(fids)) + ")", fids, nil
}

// List returns one page of messages in the order q asks.
func (s *Store) List(ctx context.Context, q Query) (Page, error) {
	page := Page{Messages: []Message{}}
	sort, err := ParseSort(string(q.Sort))
	if err != nil {
		return page, err
	}
	if q.Limit <= 0 {
		q.Limit = 50
	}
	where, args, err := s.scope(ctx, q.Accounts, q.Folders)
	if err != nil {
		return page, err
	}
	if q.Unseen {
		where += " AND m.seen = 0"
	}
	col := "m." + sort.column()
	desc := sort == SortDate
	if q.Reverse {
		desc = !desc
	}
	dir, cmp := "ASC", ">"
	if desc {
		dir, cmp = "DESC", "<"
	}
	var query string
	if q.Thread {
		return s.listThreads(ctx, q, where, args)
	} else {
		if q.After != "" {
			c, err := decodeCursor(q.After)
			if err != nil {
				return page, err
			}
			where += " AND (" + col + ", m.id) " + cmp + " (?, ?)"
			args = append(args, c.Key, c.ID)
		}
		query = `SELECT ` + messageColumns + `, ` + col + ` FROM mail_messages m` + messageJoins +
			` WHERE ` + where + ` ORDER BY ` + col + ` ` + dir + `, m.id ` + dir + ` LIMIT ? OFFSET ?`
		args = append(args, q.Limit+1, q.Offset)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return page, fmt.Errorf("listing messages: %w", err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var m Message
		var key string
		if m, err = scanMessage(rows, &key); err != nil {
			return page, fmt.Errorf("listing messages: %w", err)
		}
		page.Messages = append(page.Messages, m)
		keys = append(keys, key)
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("listing messages: %w", err)
	}
	if len(page.Messages) > q.Limit {
		page.Messages = page.Messages[:q.Limit]
		last := page.Messages[q.Limit-1]
		page.Next = encodeCursor(cursor{Key: keys[q.Limit-1], ID: last.ID})
	}
	if err := s.attachDocuments(ctx, page.Messages); err != nil {
		return page, err
	}
	return page, nil
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		return c, fmt.Errorf("invalid page cursor: %w", err)
	}
	return c, nil
}

// attachDocuments reads the documents of msgs in one query.
func (s *Store) attachDocuments(ctx context.Context, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	byID := make(map[int64]*Message, len(msgs))
	args := make([]any, len(msgs))
	for i := range msgs {
		byID[msgs[i].ID] = &msgs[i]
		args[i] = msgs[i].ID
	}
	rows, err := s.db.QueryContext(ctx, `SELECT message_ref, type_code, type_label, patient_id, patient_ins,
		patient_oid, known_patient, unique_id, title, level FROM mail_documents
		WHERE message_ref IN (`+placeholders(len(args))+`) ORDER BY message_ref, seq`, args...)
	if err != nil {
		return fmt.Errorf("reading documents: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ref int64
		var d Document
		if err := rows.Scan(&ref, &d.TypeCode, &d.TypeLabel, &d.PatientID, &d.INS, &d.OID, &d.KnownPatient,
			&d.UniqueID, &d.Title, &d.Level); err != nil {
			return fmt.Errorf("reading documents: %w", err)
		}
		if m := byID[ref]; m != nil {
			m.Documents = append(m.Documents, d)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading documents: %w", err)
	}
	return nil
}

// Folder is one folder of an account with its counts and sync state.
type Folder struct {
	Account       string    `json:"account"`
	Name          string    `json:"name"`
	Messages      int       `json:"messages"`
	Unseen        int       `json:"unseen"`
	UIDValidity   uint32    `json:"uidvalidity"`
	UIDNext       uint32    `json:"uidnext"`
	HighestModSeq uint64    `json:"highestmodseq,omitempty"`
	SyncedAt      time.Time `json:"synced_at,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
}

// Folders returns the folders of the accounts with their message and unread counts.
func (s *Store) Folders(ctx context.Context, accounts ...string) ([]Folder, error) {
	var out []Folder
	for _, acc := range accounts {
		id, err := s.accountID(ctx, acc, false)
		if err != nil {
			return nil, err
		}
		rows, err := s.db.QueryContext(ctx, `SELECT f.name, f.uidvalidity, f.uidnext, f.highestmodseq, f.synced_at, f.last_error,
			(SELECT COUNT(*) FROM mail_messages m WHERE m.folder_id = f.id),
			(SELECT COUNT(*) FROM mail_messages m WHERE m.folder_id = f.id AND m.seen = 0)
			FROM mail_folders f WHERE f.account_id = ? ORDER BY f.name`, id)
		if err != nil {
			return nil, fmt.Errorf("reading folders: %w", err)
		}
		for rows.Next() {
			f := Folder{Account: acc}
			var uv, un, hm int64
			var synced string
			if err := rows.Scan(&f.Name, &uv, &un, &hm, &synced, &f.LastError, &f.Messages, &f.Unseen); err != nil {
				rows.Close()
				return nil, fmt.Errorf("reading folders: %w", err)
			}
			f.UIDValidity, f.UIDNext, f.HighestModSeq, f.SyncedAt = uint32(uv), uint32(un), uint64(hm), parseTime(synced)
			out = append(out, f)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("reading folders: %w", err)
		}
	}
	return out, nil
}

// Get returns the message uid of folder.
func (s *Store) Get(ctx context.Context, account, folder string, uid uint32) (Message, error) {
	where, args, err := s.scope(ctx, []string{account}, []string{folder})
	if err != nil {
		return Message{}, err
	}
	return s.one(ctx, where+" AND m.uid = ?", append(args, int64(uid)), fmt.Sprintf("UID %d in %s", uid, folder))
}

// ByMessageID returns the message of account with this Message-ID (without angle brackets); when
// several folders hold it, the first synchronised.
func (s *Store) ByMessageID(ctx context.Context, account, messageID string) (Message, error) {
	where, args, err := s.scope(ctx, []string{account}, nil)
	if err != nil {
		return Message{}, err
	}
	return s.one(ctx, where+" AND m.message_id = ?", append(args, trimID(messageID)), "Message-ID "+messageID)
}

func (s *Store) one(ctx context.Context, where string, args []any, what string) (Message, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM mail_messages m`+messageJoins+
		` WHERE `+where+` ORDER BY m.id LIMIT 1`, args...)
	m, err := scanMessage(row)
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("message %s: %w", what, ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("reading message %s: %w", what, err)
	}
	msgs := []Message{m}
	if err := s.attachDocuments(ctx, msgs); err != nil {
		return m, err
	}
	return msgs[0], nil
}

// Body returns the message as received (RFC 5322); ErrNotFound when the index holds only its
// envelope (over the size cap).
func (s *Store) Body(ctx context.Context, m Message) ([]byte, error) { return s.body(ctx, m.ID) }

func (s *Store) body(ctx context.Context, id int64) ([]byte, error) {
	if s.packs != nil {
		var ref bodyRef
		var crc int64
		err := s.db.QueryRowContext(ctx, `SELECT pack, pos, len_bytes, crc32c FROM mail_body_files WHERE message_ref = ?`, id).
			Scan(&ref.Pack, &ref.Offset, &ref.Length, &crc)
		if err == nil {
			ref.CRC = uint32(crc)
			b, err := s.packs.read(ref)
			if err != nil {
				return nil, fmt.Errorf("body of message %d: %w", id, err)
			}
			return b, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("reading body of message %d: %w", id, err)
		}
		// stored before the packs (schema version 4): in mail_bodies
	}
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT body FROM mail_bodies WHERE message_ref = ?`, id).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("body of message %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading body of message %d: %w", id, err)
	}
	return b, nil
}

// Search returns the messages of the accounts whose subject, sender, text or document titles
// hold every word of query (case and accents ignored, the last word as a prefix on SQLite;
// SQLite FTS5, PostgreSQL full text in French), newest first, as a mail client shows them:
// ranking every match of a common word costs more than reading the date index.
func (s *Store) Search(ctx context.Context, query string, limit int, accounts ...string) ([]Message, error) {
	words := strings.Fields(fold.Words(query))
	if len(words) == 0 {
		return []Message{}, nil
	}
	if limit <= 0 {
		limit = 50
	}
	where, args, err := s.scope(ctx, accounts, nil)
	if err != nil {
		return nil, err
	}
	var q string
	if s.db.Dialect() == store.Postgres {
		q = `SELECT ` + messageColumns + ` FROM mail_messages m` + messageJoins +
			` WHERE m.search_tsv @@ plainto_tsquery('french', ?) AND ` + where +
			` ORDER BY m.date DESC, m.id DESC LIMIT ?`
		args = append(append([]any{strings.Join(words, " ")}, args...), limit)
	} else {
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = `"` + w + `"`
		}
		quoted[len(quoted)-1] += "*" // the word being typed
		q = `SELECT ` + messageColumns + ` FROM mail_messages m` + messageJoins +
			` WHERE m.id IN (SELECT rowid FROM mail_fts WHERE mail_fts MATCH ?) AND ` + where +
			` ORDER BY m.date DESC, m.id DESC LIMIT ?`
		args = append(append([]any{strings.Join(quoted, " ")}, args...), limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("searching %q: %w", query, err)
	}
	defer rows.Close()
	out := []Message{}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("searching %q: %w", query, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("searching %q: %w", query, err)
	}
	return out, s.attachDocuments(ctx, out)
}

// PatientDocument is a document about a patient and the message that brought it.
type PatientDocument struct {
	Document
	Message Message `json:"message"`
}

// DocumentsOf returns the documents whose METADATA.XML names the INS matricule, across the
// accounts (every account when none is given), newest first: the patient view of the web app
// and the gateway's /documents.
func (s *Store) DocumentsOf(ctx context.Context, matricule string, accounts ...string) ([]PatientDocument, error) {
	where := "d.patient_ins = ?"
	args := []any{strings.ToUpper(strings.TrimSpace(matricule))}
	if len(accounts) > 0 {
		w, a, err := s.scope(ctx, accounts, nil)
		if err != nil {
			return nil, err
		}
		where += " AND " + w
		args = append(args, a...)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+messageColumns+`, d.type_code, d.type_label, d.patient_id,
		d.patient_ins, d.patient_oid, d.known_patient, d.unique_id, d.title, d.level
		FROM mail_documents d JOIN mail_messages m ON m.id = d.message_ref`+messageJoins+
		` WHERE `+where+` ORDER BY m.date DESC, m.id DESC, d.seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading the documents of %s: %w", matricule, err)
	}
	defer rows.Close()
	out := []PatientDocument{}
	for rows.Next() {
		var d Document
		m, err := scanMessage(rows, &d.TypeCode, &d.TypeLabel, &d.PatientID, &d.INS, &d.OID, &d.KnownPatient,
			&d.UniqueID, &d.Title, &d.Level)
		if err != nil {
			return nil, fmt.Errorf("reading the documents of %s: %w", matricule, err)
		}
		out = append(out, PatientDocument{Document: d, Message: m})
	}
	return out, rows.Err()
}

// ReceivedReport is a report found by sync and the message that carried it.
type ReceivedReport struct {
	Report
	Account string    `json:"account"`
	Folder  string    `json:"folder"`
	UID     uint32    `json:"uid"`
	Date    time.Time `json:"date"`
	// MessageID is the report's own Message-ID.
	MessageID string `json:"message_id"`
}

// ReportsFor returns the delivery reports, read receipts and bounces received about the mail
// whose Message-ID is messageID (the outbox's view of what became of a mail): matched by the
// report's Original-Message-ID, by its Original-Envelope-Id (the outbox gives the Message-ID as
// ENVID), or by the report mail's In-Reply-To and References (Mon espace santé's "Message non
// distribué" gives only those). Oldest first.
func (s *Store) ReportsFor(ctx context.Context, messageID string) ([]ReceivedReport, error) {
	id := trimID(strings.TrimSpace(messageID))
	rows, err := s.db.QueryContext(ctx, `SELECT r.kind, r.recipient, r.action, r.status, r.disposition, r.reason,
		r.original_message_id, r.original_envelope_id, r.failed, a.address, f.name, m.uid, m.date, m.message_id
		FROM mail_reports r JOIN mail_messages m ON m.id = r.message_ref`+messageJoins+`
		WHERE r.original_message_id = ? OR r.original_envelope_id = ?
			OR m.id IN (SELECT message_ref FROM mail_refs WHERE ref = ?)
		ORDER BY m.date, m.id, r.id`, id, id, id)
	if err != nil {
		return nil, fmt.Errorf("reading the reports of %s: %w", messageID, err)
	}
	defer rows.Close()
	out := []ReceivedReport{}
	for rows.Next() {
		var r ReceivedReport
		var failed int
		var uid int64
		var date string
		if err := rows.Scan(&r.Kind, &r.Recipient, &r.Action, &r.Status, &r.Disposition, &r.Reason,
			&r.OriginalMessageID, &r.OriginalEnvelopeID, &failed, &r.Account, &r.Folder, &uid, &date, &r.MessageID); err != nil {
			return nil, fmt.Errorf("reading the reports of %s: %w", messageID, err)
		}
		r.Failed, r.UID, r.Date = failed != 0, uint32(uid), parseTime(date)
		if r.OriginalMessageID == "" {
			r.OriginalMessageID = id
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// listThreads returns the page of threads q asks, each with all its messages in scope.
func (s *Store) listThreads(ctx context.Context, q Query, where string, args []any) (Page, error) {
	page := Page{Messages: []Message{}}
	type thread struct {
		acc int64
		id  string
	}
	var threads []thread
	seen := map[thread]bool{}
	skipped := 0
	add := func(t thread) {
		if seen[t] {
			return
		}
		seen[t] = true
		if skipped < q.Offset {
			skipped++
			return
		}
		threads = append(threads, t)
	}
	if !q.Reverse {
		// Newest first: the threads come in the order of their newest message when the messages
		// are read newest first (index on date); read by chunks only until the page is full.
		chunk := max(200, 2*(q.Limit+q.Offset))
		var lastDate string
		var lastID int64
		for first := true; len(threads) < q.Limit; first = false {
			w, a := where, append([]any(nil), args...)
			if !first {
				w += " AND (m.date, m.id) < (?, ?)"
				a = append(a, lastDate, lastID)
			}
			rows, err := s.db.QueryContext(ctx, `SELECT m.account_id, m.thread_id, m.date, m.id FROM mail_messages m
				WHERE `+w+` ORDER BY m.date DESC, m.id DESC LIMIT ?`, append(a, chunk)...)
			if err != nil {
				return page, fmt.Errorf("listing threads: %w", err)
			}
			n := 0
			for rows.Next() {
				var t thread
				if err := rows.Scan(&t.acc, &t.id, &lastDate, &lastID); err != nil {
					rows.Close()
					return page, fmt.Errorf("listing threads: %w", err)
				}
				n++
				if len(threads) < q.Limit {
					add(t)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return page, fmt.Errorf("listing threads: %w", err)
			}
			if n < chunk {
				break
			}
		}
	} else {
		rows, err := s.db.QueryContext(ctx, `SELECT m.account_id, m.thread_id FROM mail_messages m
			WHERE `+where+` GROUP BY m.account_id, m.thread_id ORDER BY MAX(m.date) ASC, m.account_id, m.thread_id`, args...)
		if err != nil {
			return page, fmt.Errorf("listing threads: %w", err)
		}
		for len(threads) < q.Limit && rows.Next() {
			var t thread
			if err := rows.Scan(&t.acc, &t.id); err != nil {
				rows.Close()
				return page, fmt.Errorf("listing threads: %w", err)
			}
			add(t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return page, fmt.Errorf("listing threads: %w", err)
		}
	}
	if len(threads) == 0 {
		return page, nil
	}
	order := make(map[thread]int, len(threads))
	targs := append([]any(nil), args...)
	for i, t := range threads {
		order[t] = i
		targs = append(targs, t.id)
	}
	// No ORDER BY: sorted below, so that the planner takes the thread index, not the date one.
	rows, err := s.db.QueryContext(ctx, `SELECT `+messageColumns+` FROM mail_messages m`+messageJoins+
		` WHERE `+where+` AND m.thread_id IN (`+placeholders(len(threads))+`)`, targs...)
	if err != nil {
		return page, fmt.Errorf("listing threads: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return page, fmt.Errorf("listing threads: %w", err)
		}
		if _, ok := order[thread{m.accountID, m.ThreadID}]; ok { // same thread id in another account
			page.Messages = append(page.Messages, m)
		}
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("listing threads: %w", err)
	}
	slices.SortFunc(page.Messages, func(x, y Message) int {
		if c := order[thread{x.accountID, x.ThreadID}] - order[thread{y.accountID, y.ThreadID}]; c != 0 {
			return c
		}
		if c := x.Date.Compare(y.Date); c != 0 {
			return c
		}
		return cmp.Compare(x.ID, y.ID)
	})
	if err := s.attachDocuments(ctx, page.Messages); err != nil {
		return page, err
	}
	return page, nil
}
