package patients

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/mssante/mssante/ins"
	"github.com/mssante/mssante/internal/fold"
	"github.com/mssante/mssante/internal/store"
)

// Store is the base of known patients, tables of the main database (internal/store). It is safe
// for concurrent use.
type Store struct {
	db  *store.DB
	own bool // Close closes db (Open opened it)
	now func() time.Time
}

// Migrations create the tables of the known patients; pass them to store.Open (Open does).
//
// The word index (patient_words) holds each folded word of a patient's names, so that a
// word-prefix search is a range scan on its primary key, the same on both dialects. On PostgreSQL
// the compared and sorted columns use the "C" collation: byte order, as SQLite compares, so that
// the range word >= w AND word < w||U+10FFFF holds exactly the words starting with w and lists
// sort the same on both.
var Migrations = []store.Migration{{Package: "patients", Version: 1, SQL: `
CREATE TABLE patients (
	id INTEGER PRIMARY KEY,
	matricule TEXT NOT NULL DEFAULT '',
	oid TEXT NOT NULL DEFAULT '',
	birth_name TEXT NOT NULL,
	used_name TEXT NOT NULL DEFAULT '',
	first_name TEXT NOT NULL,
	given_names TEXT NOT NULL DEFAULT '',
	birth_date TEXT NOT NULL DEFAULT '',
	sex TEXT NOT NULL DEFAULT '',
	birthplace_code TEXT NOT NULL DEFAULT '',
	status TEXT NOT NULL,
	opposition INTEGER NOT NULL DEFAULT 0,
	search_key TEXT NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX patients_ins ON patients(matricule, oid) WHERE matricule <> '';
CREATE INDEX patients_names ON patients(birth_name, first_name);
CREATE TABLE patient_words (
	word TEXT NOT NULL,
	patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
	PRIMARY KEY (word, patient_id)
) WITHOUT ROWID;
`, Postgres: `
CREATE TABLE patients (
	id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	matricule TEXT COLLATE "C" NOT NULL DEFAULT '',
	oid TEXT NOT NULL DEFAULT '',
	birth_name TEXT COLLATE "C" NOT NULL,
	used_name TEXT NOT NULL DEFAULT '',
	first_name TEXT COLLATE "C" NOT NULL,
	given_names TEXT NOT NULL DEFAULT '',
	birth_date TEXT NOT NULL DEFAULT '',
	sex TEXT NOT NULL DEFAULT '',
	birthplace_code TEXT NOT NULL DEFAULT '',
	status TEXT NOT NULL,
	opposition INTEGER NOT NULL DEFAULT 0,
	search_key TEXT NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX patients_ins ON patients(matricule, oid) WHERE matricule <> '';
CREATE INDEX patients_names ON patients(birth_name, first_name);
CREATE TABLE patient_words (
	word TEXT COLLATE "C" NOT NULL,
	patient_id BIGINT NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
	PRIMARY KEY (word, patient_id)
);
`}}

// indexWords replaces the word index of one patient with the words of its search key.
func indexWords(ctx context.Context, tx *store.Tx, id int64, key string) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM patient_words WHERE patient_id = ?", id); err != nil {
		return err
	}
	for _, w := range strings.Fields(key) {
		if _, err := tx.ExecContext(ctx, "INSERT INTO patient_words (word, patient_id) VALUES (?, ?) ON CONFLICT DO NOTHING", w, id); err != nil {
			return err
		}
	}
	return nil
}

// New returns the base of known patients in db, migrated with Migrations. It does no I/O; Close
// leaves db open.
func New(db *store.DB) *Store { return &Store{db: db, now: time.Now} }

// Open opens the database named by url (store.Open: "sqlite:PATH" or "postgres://…"), applies
// the migrations, and returns the base that Close closes.
func Open(ctx context.Context, url string) (*Store, error) {
	db, err := store.Open(ctx, url, Migrations...)
	if err != nil {
		return nil, fmt.Errorf("open patients store: %w", err)
	}
	s := New(db)
	s.own = true
	return s, nil
}

// Close closes the database when Open opened it.
func (s *Store) Close() error {
	if !s.own {
		return nil
	}
	return s.db.Close()
}

const columns = `id, matricule, oid, birth_name, used_name, first_name, given_names, birth_date, sex,
	birthplace_code, status, opposition, created_at, updated_at`

// Add validates p (Patient.Validate) and stores it. It returns the stored patient with its ID and
// times set, or ErrDuplicate when the matricule and OID are already known.
func (s *Store) Add(ctx context.Context, p Patient) (Patient, error) {
	if err := p.Validate(); err != nil {
		return Patient{}, err
	}
	now := s.now().UTC().Truncate(time.Second)
	p.CreatedAt, p.UpdatedAt = now, now
	id := p.Identity
	key := searchKey(id)
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO patients (matricule, oid, birth_name, used_name,
		first_name, given_names, birth_date, sex, birthplace_code, status, opposition, search_key,
		created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			id.INS.Matricule.String(), string(id.INS.OID), strings.TrimSpace(id.BirthName),
			strings.TrimSpace(id.UsedName), strings.TrimSpace(id.FirstName), strings.TrimSpace(id.GivenNames),
			formatDate(id.BirthDate), string(id.Sex), strings.TrimSpace(id.BirthplaceCode), string(p.Status),
			boolInt(p.Opposition), key, now.Format(time.RFC3339), now.Format(time.RFC3339)).Scan(&p.ID); err != nil {
			return err
		}
		return indexWords(ctx, tx, p.ID, key)
	})
	if store.IsUniqueViolation(err) {
		return Patient{}, fmt.Errorf("%w: INS %s (%s)", ErrDuplicate, id.INS.Matricule, id.INS.OID.Label())
	}
	if err != nil {
		return Patient{}, fmt.Errorf("add patient: %w", err)
	}
	return p, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Update replaces the record of p.ID with p, after validation.
func (s *Store) Update(ctx context.Context, p Patient) (Patient, error) {
	if err := p.Validate(); err != nil {
		return Patient{}, err
	}
	old, err := s.Get(ctx, p.ID)
	if err != nil {
		return Patient{}, err
	}
	p.CreatedAt, p.UpdatedAt = old.CreatedAt, s.now().UTC().Truncate(time.Second)
	id := p.Identity
	key := searchKey(id)
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE patients SET matricule = ?, oid = ?, birth_name = ?,
		used_name = ?, first_name = ?, given_names = ?, birth_date = ?, sex = ?, birthplace_code = ?,
		status = ?, opposition = ?, search_key = ?, updated_at = ? WHERE id = ?`,
			id.INS.Matricule.String(), string(id.INS.OID), strings.TrimSpace(id.BirthName),
			strings.TrimSpace(id.UsedName), strings.TrimSpace(id.FirstName), strings.TrimSpace(id.GivenNames),
			formatDate(id.BirthDate), string(id.Sex), strings.TrimSpace(id.BirthplaceCode), string(p.Status),
			boolInt(p.Opposition), key, p.UpdatedAt.Format(time.RFC3339), p.ID); err != nil {
			return err
		}
		return indexWords(ctx, tx, p.ID, key)
	})
	if store.IsUniqueViolation(err) {
		return Patient{}, fmt.Errorf("%w: INS %s (%s)", ErrDuplicate, id.INS.Matricule, id.INS.OID.Label())
	}
	if err != nil {
		return Patient{}, fmt.Errorf("update patient %d: %w", p.ID, err)
	}
	return p, nil
}

// Get returns the patient with this id, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id int64) (Patient, error) {
	ps, err := s.query(ctx, "SELECT "+columns+" FROM patients WHERE id = ?", id)
	if err != nil {
		return Patient{}, err
	}
	if len(ps) == 0 {
		return Patient{}, fmt.Errorf("%w: id %d", ErrNotFound, id)
	}
	return ps[0], nil
}

// ByMatricule returns the patients with this matricule (one per OID), or ErrNotFound.
func (s *Store) ByMatricule(ctx context.Context, matricule string) ([]Patient, error) {
	m := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(matricule), " ", ""))
	ps, err := s.query(ctx, "SELECT "+columns+" FROM patients WHERE matricule = ? ORDER BY id", m)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%w: matricule %s", ErrNotFound, m)
	}
	return ps, nil
}

// List returns every patient, by birth name and first name.
func (s *Store) List(ctx context.Context) ([]Patient, error) {
	return s.query(ctx, "SELECT "+columns+" FROM patients ORDER BY birth_name, first_name, id")
}

// Search finds patients by name or matricule. A query made of digits (and 2A/2B) matches the
// beginning of the matricule; otherwise every word must start a word of the birth name, used name
// or given names, accents and case folded ("heloise lef" finds "Héloïse LEFÈVRE"). limit <= 0
// means 50.
func (s *Store) Search(ctx context.Context, query string, limit int) ([]Patient, error) {
	if limit <= 0 {
		limit = 50
	}
	if m := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(query), " ", "")); isMatriculePrefix(m) {
		// Matricules hold digits, A and B: prefix+"Z" bounds the range on the partial index.
		return s.query(ctx, "SELECT "+columns+` FROM patients WHERE matricule <> '' AND matricule >= ?
			AND matricule < ? ORDER BY matricule, id LIMIT ?`, m, m+"Z", limit)
	}
	words := strings.Fields(fold.Words(query))
	if len(words) == 0 {
		return nil, fmt.Errorf("%w: empty search", ErrInvalid)
	}
	var where []string
	var args []any
	for _, w := range words {
		// Range on the word index: every word starting with w (U+10FFFF sorts after any suffix).
		where = append(where, "id IN (SELECT patient_id FROM patient_words WHERE word >= ? AND word < ?)")
		args = append(args, w, w+"\U0010FFFF")
	}
	args = append(args, limit)
	return s.query(ctx, "SELECT "+columns+" FROM patients WHERE "+strings.Join(where, " AND ")+
		" ORDER BY birth_name, first_name, id LIMIT ?", args...)
}

func isMatriculePrefix(s string) bool {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && !(i == 6 && (c == 'A' || c == 'B') && s[5] == '2') {
			return false
		}
	}
	return true
}

// searchKey is the folded text Search matches, starting with a space so that "% word%" finds a
// word beginning. It ends with the joined forms of the names, so that a name typed without its
// apostrophe, hyphen or particle is found: "dalmeida" for D'ALMEIDA, "legoff" for LE GOFF.
func searchKey(id ins.Identity) string {
	key := fold.Words(strings.Join([]string{id.BirthName, id.UsedName, id.FirstName, id.GivenNames}, " "))
	for _, n := range []string{id.BirthName, id.UsedName, id.FirstName} {
		if j := joinedForms(fold.Words(n)); j != "" {
			key += " " + j
		}
	}
	return " " + key + " "
}

// joinedForms returns the joined forms of a folded name of several words: a short first word
// (elision or particle: d, l, n, o, le, mc) joined to the next one, and a name of two or three
// words joined whole ("le goff erard" gives "legoff legofferard").
func joinedForms(folded string) string {
	words := strings.Fields(folded)
	if len(words) < 2 {
		return ""
	}
	var out []string
	for i := 0; i+1 < len(words); i++ {
		if len([]rune(words[i])) <= 3 {
			out = append(out, words[i]+words[i+1])
		}
	}
	if len(words) <= 3 {
		out = append(out, strings.Join(words, ""))
	}
	return strings.Join(out, " ")
}

func (s *Store) query(ctx context.Context, q string, args ...any) ([]Patient, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query patients: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []Patient
	for rows.Next() {
		p, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query patients: %w", err)
	}
	return out, nil
}

func scan(rows *sql.Rows) (Patient, error) {
	var p Patient
	var matricule, oid, birthDate, sex, status, created, updated string
	id := &p.Identity
	if err := rows.Scan(&p.ID, &matricule, &oid, &id.BirthName, &id.UsedName, &id.FirstName,
		&id.GivenNames, &birthDate, &sex, &id.BirthplaceCode, &status, &p.Opposition, &created,
		&updated); err != nil {
		return Patient{}, fmt.Errorf("read patient: %w", err)
	}
	if matricule != "" {
		m, err := ins.Parse(matricule)
		if m.IsZero() {
			return Patient{}, fmt.Errorf("read patient %d: %w", p.ID, err)
		}
		id.INS = ins.INS{Matricule: m, OID: ins.OID(oid)}
	}
	if birthDate != "" {
		t, err := time.Parse(time.DateOnly, birthDate)
		if err != nil {
			return Patient{}, fmt.Errorf("read patient %d: birth date: %w", p.ID, err)
		}
		id.BirthDate = t
	}
	id.Sex, p.Status = ins.Sex(sex), Status(status)
	p.CreatedAt, _ = time.Parse(time.RFC3339, created)
	p.UpdatedAt, _ = time.Parse(time.RFC3339, updated)
	return p, nil
}

func formatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.DateOnly)
}
