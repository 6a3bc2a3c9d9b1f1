package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/sandbox"
)

// The README's main command composes a complete MSSanté mail on the embedded example and reads it
// back (ECO.2.1.1, ECO.2.1.3, ECO.2.4.1, ECO.2.4.2).
func TestDemo(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo.eml")
	stdout, stderr, code := runMain(t, "demo", "-o", out)
	if code != 0 {
		t.Fatalf("demo: code %d: %s", code, stderr)
	}
	var got struct {
		Subject  string            `json:"subject"`
		PDFNames []string          `json:"pdf_names"`
		Headers  map[string]string `json:"headers"`
		ReadBack struct {
			DisplaySubject string `json:"display_subject"`
			Documents      []struct {
				PatientID string `json:"patient_id"`
			} `json:"documents"`
		} `json:"read_back"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if got.Subject != "XDM/1.0/DDM+CR d'imagerie médicale BERANGER ELOISE 12/07/1985" || got.ReadBack.DisplaySubject != "CR d'imagerie médicale BERANGER ELOISE 12/07/1985" {
		t.Errorf("subject %q, display %q", got.Subject, got.ReadBack.DisplaySubject)
	}
	if got.Headers["X-MSS-CODECDA"] != "18748-4" || got.Headers["X-MSS-INS"] != "O" || len(got.PDFNames) != 1 {
		t.Errorf("headers %v, pdfs %v", got.Headers, got.PDFNames)
	}
	if len(got.ReadBack.Documents) != 1 || got.ReadBack.Documents[0].PatientID != "285077505612370^^^&1.2.250.1.213.1.4.10&ISO^NH" {
		t.Errorf("documents %+v", got.ReadBack.Documents)
	}
}

// Issue 11 item 5: `demo --sandbox` writes between sandbox mailboxes (the first professional to a
// sandbox patient, copy to the second), so that `send` delivers it there.
func TestDemo_sandboxSendable(t *testing.T) {
	dir := t.TempDir()
	sbDir := filepath.Join(dir, "sandbox")
	any := "127.0.0.1:0"
	startSandboxCmd(t, "--data-dir", sbDir, "--imap", any, "--smtp", any, "--https", any, "--http", any, "--psc", any)
	e, err := sandbox.EnvOf(sbDir)
	if err != nil {
		t.Fatal(err)
	}
	eml := filepath.Join(dir, "demo.eml")
	stdout, stderr, code := runMain(t, "demo", "--sandbox", "--data-dir", sbDir, "-o", eml)
	if code != 0 {
		t.Fatalf("demo --sandbox: code %d: %s", code, stderr)
	}
	var got struct {
		Subject  string `json:"subject"`
		ReadBack struct {
			From struct {
				Addr string `json:"address"`
			} `json:"from"`
		} `json:"read_back"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	jeanne, paul := e.Accounts[0], e.Accounts[1]
	if got.ReadBack.From.Addr != jeanne.Address || !strings.Contains(stderr, "mssante send") {
		t.Errorf("demo --sandbox from %q, stderr %q", got.ReadBack.From.Addr, stderr)
	}
	tok := func(a sandbox.Account) string {
		f := filepath.Join(dir, a.NationalID+".token")
		if _, errOut, code := runMain(t, "sandbox", "token", "--user", a.NationalID, "--data-dir", sbDir, "-o", f); code != 0 {
			t.Fatalf("sandbox token: %s", errOut)
		}
		return f
	}
	common := []string{"--autoconfig-url", e.AutoconfigURL, "--trust-root", e.TrustRoot, "--data-dir", filepath.Join(dir, "client")}
	if out, errOut, code := runMain(t, append([]string{"send", eml, "--account", jeanne.Address, "--token-file", tok(jeanne)}, common...)...); code != 0 {
		t.Fatalf("send the demo mail: code %d, %s %s", code, out, errOut)
	}
	// The copy reaches the colleague (the seed mails of the same CDA come from the DPI, not from
	// the first professional).
	list := append([]string{"list", "--account", paul.Address, "--token-file", tok(paul)}, common...)
	for i := 0; ; i++ {
		out, errOut, code := runMain(t, list...)
		if code != 0 {
			t.Fatalf("list: %d %s", code, errOut)
		}
		found := false
		for _, l := range strings.Split(out, "\n") {
			found = found || strings.Contains(l, "biologiques CHATEAU") && strings.Contains(l, jeanne.Address)
		}
		if found {
			break
		}
		if i == 50 {
			t.Fatalf("the demo mail did not reach %s:\n%s", paul.Address, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
