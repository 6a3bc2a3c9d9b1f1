package patients

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/mssante/mssante/ins"
	"github.com/mssante/mssante/internal/store"
)

// LegacyFileName is the file of the base of known patients before it moved into the main
// database: <data-dir>/patients.db, its own SQLite file with PRAGMA user_version migrations.
const LegacyFileName = "patients.db"

// ImportLegacy copies the patients of a base of the earlier releases (the SQLite file at path, any
// of its schema versions) into s, in one transaction, and returns how many it added. The search
// key and the word index are computed afresh, so a base of an old version gets today's search; a
// patient whose INS is already known is skipped (a patient without INS is not: import once). The file is only
// read; the caller renames it once imported.
func (s *Store) ImportLegacy(ctx context.Context, path string) (int, error) {
	src, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return 0, fmt.Errorf("import patients from %s: %w", path, err)
	}
	defer src.Close()
	rows, err := src.QueryContext(ctx, `SELECT matricule, oid, birth_name, used_name, first_name, given_names,
		birth_date, sex, birthplace_code, status, opposition, created_at, updated_at FROM patients ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("import patients from %s: %w", path, err)
	}
	type legacy struct {
		id               ins.Identity
		matricule, oid   string
		birthDate, sex   string
		status           string
		opposition       bool
		created, updated string
	}
	var all []legacy
	for rows.Next() {
		var l legacy
		if err := rows.Scan(&l.matricule, &l.oid, &l.id.BirthName, &l.id.UsedName, &l.id.FirstName, &l.id.GivenNames,
			&l.birthDate, &l.sex, &l.id.BirthplaceCode, &l.status, &l.opposition, &l.created, &l.updated); err != nil {
			return 0, errors.Join(fmt.Errorf("import patients from %s: %w", path, err), rows.Close())
		}
		all = append(all, l)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, fmt.Errorf("import patients from %s: %w", path, err)
	}
	n := 0
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		n = 0
		for _, l := range all {
			key := searchKey(l.id)
			var id int64
			err := tx.QueryRowContext(ctx, `INSERT INTO patients (matricule, oid, birth_name, used_name,
				first_name, given_names, birth_date, sex, birthplace_code, status, opposition, search_key,
				created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT DO NOTHING RETURNING id`,
				l.matricule, l.oid, l.id.BirthName, l.id.UsedName, l.id.FirstName, l.id.GivenNames,
				l.birthDate, l.sex, l.id.BirthplaceCode, l.status, boolInt(l.opposition), key,
				orNow(l.created, s.now), orNow(l.updated, s.now)).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				continue // already known
			}
			if err != nil {
				return err
			}
			if err := indexWords(ctx, tx, id, key); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("import patients from %s: %w", path, err)
	}
	return n, nil
}

func orNow(ts string, now func() time.Time) string {
	if _, err := time.Parse(time.RFC3339, ts); err == nil {
		return ts
	}
	return now().UTC().Truncate(time.Second).Format(time.RFC3339)
}
