package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/trust"
)

// Issue 12 item 5: mssante doctor against the sandbox. Every check passes (exit 0, one ✓ line per
// check); the JSON form has the documented shape; a wrong --trust-root names the failing step and
// the trust rule with its fix (exit 1, ECO.1.1.10); a missing --account is a usage error (exit 2).
func TestDoctor_cli(t *testing.T) {
	c := startCLIWorld(t)
	ac := []string{"--autoconfig-url", c.w.Env().AutoconfigURL}
	if _, errOut, code := runMain(t, append(append([]string{"list", "--limit", "1"}, ac...), c.jeanneArgs...)...); code != 0 {
		t.Fatalf("list: code %d: %s", code, errOut) // creates the audit trail, as a first use does
	}
	out, errOut, code := runMain(t, append(append([]string{"doctor"}, ac...), c.jeanneArgs...)...)
	if code != 0 || strings.Count(out, "✓ ") != 10 || strings.Contains(out, "✗") || errOut != "" {
		t.Fatalf("doctor: code %d\n%s\n%s", code, out, errOut)
	}
	out, _, code = runMain(t, append(append([]string{"doctor", "--json"}, ac...), c.jeanneArgs...)...)
	var rep struct {
		Checks []struct {
			Name, Verdict, Detail, Fix string
			OK                         bool
		}
		OK bool
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.OK || len(rep.Checks) != 10 || rep.Checks[0].Name != "config" {
		t.Fatalf("doctor --json: code %d, %v\n%s", code, err, out)
	}

	foreign := filepath.Join(c.dir, "foreign.pem")
	writeTestFile(t, foreign, testpki.New(t, testpki.Options{Name: "FOREIGN"}).RootPEM())
	args := append([]string(nil), c.jeanneArgs...)
	for i := range args {
		if args[i] == "--trust-root" {
			args[i+1] = foreign
		}
	}
	out, errOut, code = runMain(t, append([]string{"doctor", "--imap", c.w.Config.IMAP, "--smtp", c.w.Config.SMTP}, args...)...)
	if code != 1 || !strings.Contains(out, "✗ imap.starttls  refused by the TLS policy: rule "+trust.RuleUntrusted) ||
		!strings.Contains(out, "    fix: ") || !strings.Contains(out, "– auth.imap") || !strings.Contains(errOut, "2 check(s) failed") {
		t.Errorf("wrong trust root: code %d\n%s\n%s", code, out, errOut)
	}

	// An invalid configuration file stops other commands (exit 2) but is one failed check of the
	// doctor, which runs the rest on the flags and the defaults.
	bad := filepath.Join(c.dir, "bad.toml")
	writeTestFile(t, bad, []byte("data_dir = 5\nno_such_key = true\n"))
	if _, errOut, code := runMain(t, append(append([]string{"list", "--limit", "1", "--config", bad}, ac...), c.jeanneArgs...)...); code != 2 {
		t.Errorf("list with an invalid configuration: code %d, want 2: %s", code, errOut)
	}
	out, errOut, code = runMain(t, append(append([]string{"doctor", "--config", bad}, ac...), c.jeanneArgs...)...)
	if code != 1 || !strings.Contains(out, "✗ config") || !strings.Contains(out, "data_dir") || strings.Count(out, "✓ ") != 9 ||
		!strings.Contains(errOut, "1 check(s) failed") {
		t.Errorf("doctor with an invalid configuration: code %d\n%s\n%s", code, out, errOut)
	}

	if _, _, code := runMain(t, "doctor", "--token-file", "x"); code != 2 {
		t.Errorf("no --account: code %d, want 2", code)
	}
}
