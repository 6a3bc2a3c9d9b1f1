package store

import (
	"strconv"
	"strings"
	"testing"
)

func TestRebind(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE b = ? AND c = ?`, `SELECT a FROM t WHERE b = $1 AND c = $2`},
		{`INSERT INTO t (a, b) VALUES (?, 'what?')`, `INSERT INTO t (a, b) VALUES ($1, 'what?')`},
		{`SELECT 'it''s ?', ?`, `SELECT 'it''s ?', $1`},
		{`SELECT E'a\'?', ?`, `SELECT E'a\'?', $1`},
		{`SELECT 'a\', ?`, `SELECT 'a\', $1`}, // standard strings: a backslash is a character
		{`SELECT "col?" FROM t WHERE x = ?`, `SELECT "col?" FROM t WHERE x = $1`},
		{"SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2"},
		{"SELECT ? /* a /* nested? */ still? */ , ?", "SELECT $1 /* a /* nested? */ still? */ , $2"},
		{`SELECT $$ what? $$, ?`, `SELECT $$ what? $$, $1`},
		{`SELECT $fn$ a $ b? $fn$, ?`, `SELECT $fn$ a $ b? $fn$, $1`},
		{`SELECT 'unterminated ?`, `SELECT 'unterminated ?`},
		{`SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?`, `SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11`},
	} {
		if got := Rebind(Postgres, c.in); got != c.want {
			t.Errorf("Rebind(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := Rebind(SQLite, c.in); got != c.in {
			t.Errorf("Rebind(SQLite, %q) = %q, want it unchanged", c.in, got)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://mssante:s3cret@db.example:5432/mssante?sslmode=disable", "postgres://mssante:xxxxx@db.example:5432/mssante?sslmode=disable"},
		{"postgres://mssante@db.example/mssante?password=s3cret&sslmode=require", "postgres://mssante@db.example/mssante?password=xxxxx&sslmode=require"},
		{"postgres://mssante@db.example/mssante", "postgres://mssante@db.example/mssante"},
		{"sqlite:/var/lib/mssante/mssante.db", "sqlite:/var/lib/mssante/mssante.db"},
		{"postgres://u:s3cret@[bad/db", "postgres://xxxxx@[bad/db"},
	} {
		if got := Redact(c.in); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzRebind(f *testing.F) {
	for _, s := range []string{`SELECT ?`, `'?'`, `"?"`, "--?\n?", "/*?*/?", `$$?$$?`, `$a$?$a$`, `E'\'?'?`, `$1 ?`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got := Rebind(Postgres, q)
		// Rebinding only replaces '?' characters, each by the next $n: walking both strings,
		// every other byte is equal.
		i, j, n := 0, 0, 1
		for i < len(q) {
			if q[i] == '?' {
				if p := "$" + strconv.Itoa(n); strings.HasPrefix(got[j:], p) {
					i, j, n = i+1, j+len(p), n+1
					continue
				}
			}
			if j >= len(got) || got[j] != q[i] {
				t.Fatalf("Rebind(%q) = %q: differs at byte %d beyond placeholders", q, got, i)
			}
			i, j = i+1, j+1
		}
		if j != len(got) {
			t.Fatalf("Rebind(%q) = %q: trailing bytes", q, got)
		}
		if Rebind(SQLite, q) != q {
			t.Fatalf("SQLite rebinding changed %q", q)
		}
	})
}
