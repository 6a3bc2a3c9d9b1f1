package config

import (
	"errors"
	"io"
	"os"
	"testing"
)

// FuzzLoadFile: the configuration file is outside input. Loading never panics, fails only with
// a *Error, and a loaded configuration always prints.
func FuzzLoadFile(f *testing.F) {
	for _, seed := range []string{
		"",
		"data_dir = \"/x\"\n[trust]\nprofile = \"test\"\ncrl_refresh = \"1h\"\n",
		"[[account]]\naddress = \"a@b.fr\"\ntoken_file = \"/t\"\n[[account]]\naddress = \"c@d.fr\"\ncert = \"c\"\nkey = \"k\"\n",
		"[annuaire.ldap]\nattributes = [\"last_name=sn\"]\n[nosuch]\nx = 1\n",
		"[trust]\nroots = [1, 2]\n",
		"a.b.c = { d = [ { e = 1 } ] }\n",
		"db = \"postgres://u:p@h/db\"\n",
		"[[trust]]\nprofile = 1\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		readFile = func(string) ([]byte, error) { return []byte(text), nil }
		defer func() { readFile = os.ReadFile }()
		c, err := Load(Options{Env: func(string) (string, bool) { return "", false }, File: "config.toml"})
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error %T %v is not a *Error with problems", err, err)
			}
			return
		}
		if err := c.WriteJSON(io.Discard); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteText(io.Discard); err != nil {
			t.Fatal(err)
		}
	})
}
