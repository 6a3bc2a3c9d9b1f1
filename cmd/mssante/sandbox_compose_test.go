package main

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mssante/mssante/internal/sandbox"
	"github.com/mssante/mssante/internal/testkit"
)

// inspected is the part of `mssante inspect` JSON this test reads.
type inspected struct {
	DisplaySubject string            `json:"display_subject"`
	Headers        map[string]string `json:"headers"`
	MDNRequested   bool              `json:"mdn_requested"`
	DSNRequested   bool              `json:"dsn_requested"`
	Documents      []struct {
		PatientID    string `json:"patient_id"`
		INS          string `json:"ins"`
		QualifiedINS bool   `json:"qualified_ins"`
	} `json:"documents"`
	Reports []struct {
		Recipient string `json:"recipient"`
		Action    string `json:"action"`
		Status    string `json:"status"`
		Reason    string `json:"reason"`
	} `json:"reports"`
}

// QA of issue 5, item 3: mails made by `mssante compose` from the CDA samples travel through the
// sandbox like through an operator. To a patient with a qualified INS and a professional, with
// DSN and MDN requests: the professional fetches it and `inspect` finds the patient id, the
// X-MSS headers and the display subject (ECO.2.1.1, ECO.2.4.1, ECO.3.1.3); to the closed patient
// mailbox: the sender gets the "Message non distribué" bounce that `inspect` reads with recipient,
// status and reason (ECO.2.3.1).
func TestSandbox_composeSendInspect(t *testing.T) {
	dir := t.TempDir()
	sbDir := filepath.Join(dir, "sandbox")
	any := "127.0.0.1:0"
	startSandboxCmd(t, "--data-dir", sbDir, "--imap", any, "--smtp", any, "--https", any, "--http", any, "--psc", any)
	env, err := sandbox.EnvOf(sbDir)
	if err != nil {
		t.Fatal(err)
	}
	var jeanne, paul, openPat, closedPat sandbox.Account
	for _, a := range env.Accounts {
		switch {
		case a.Kind == "personal" && jeanne.Address == "":
			jeanne = a
		case a.Kind == "personal":
			paul = a
		case a.Kind == "patient" && a.Closed:
			closedPat = a
		case a.Kind == "patient":
			openPat = a
		}
	}
	patientDomain := env.Domains[2]
	common := []string{"--autoconfig-url", env.AutoconfigURL, "--trust-root", env.TrustRoot, "--data-dir", filepath.Join(dir, "client")}
	tokenFile := func(who sandbox.Account) string {
		out, errOut, code := runMain(t, "sandbox", "token", "--user", who.NationalID, "--data-dir", sbDir)
		if code != 0 {
			t.Fatalf("sandbox token: %d %s", code, errOut)
		}
		f := filepath.Join(dir, who.NationalID+".token")
		writeTestFile(t, f, []byte(out))
		return f
	}
	jeanneArgs := append([]string{"--account", jeanne.Address, "--token-file", tokenFile(jeanne)}, common...)
	paulArgs := append([]string{"--account", paul.Address, "--token-file", tokenFile(paul)}, common...)
	cdaDir := filepath.Join(testkit.ModuleRoot(t), "cda", "testdata")
	body := filepath.Join(dir, "body.txt")
	writeTestFile(t, body, []byte("Compte rendu joint.\n"))

	compose := func(out, cdaFile string, extra ...string) {
		t.Helper()
		args := append([]string{"compose", "--from", jeanne.Address, "--from-label", "Dr Jeanne ESSAI-SANDBOX",
			"--cda", filepath.Join(cdaDir, cdaFile), "--text", body, "--patient-domain", patientDomain, "-o", out}, extra...)
		if _, errOut, code := runMain(t, args...); code != 0 {
			t.Fatalf("compose %s: %d %s", cdaFile, code, errOut)
		}
		if o, errOut, code := runMain(t, append([]string{"send", out}, jeanneArgs...)...); code != 0 {
			t.Fatalf("send %s: %d %s %s", out, code, o, errOut)
		}
	}
	inspect := func(args []string, subject string) inspected {
		t.Helper()
		uid := waitListed(t, args, subject)
		f := filepath.Join(dir, strconv.Itoa(int(uid))+"-"+args[1]+".eml")
		if _, errOut, code := runMain(t, append([]string{"fetch", "--uid", strconv.Itoa(int(uid)), "-o", f}, args...)...); code != 0 {
			t.Fatalf("fetch: %d %s", code, errOut)
		}
		out, errOut, code := runMain(t, "inspect", "--patient-domain", patientDomain, f)
		var m inspected
		if code != 0 || json.Unmarshal([]byte(out), &m) != nil {
			t.Fatalf("inspect: %d %s %s", code, out, errOut)
		}
		return m
	}

	// The CDA sample of the open patient (same INS as the sandbox patient).
	compose(filepath.Join(dir, "cr.eml"), "n3-cr-biologie.xml", "--to", openPat.Address, "--to", paul.Address, "--dsn", "--mdn")
	m := inspect(paulArgs, "CR d'examens biologiques")
	if len(m.Documents) != 1 || !strings.HasPrefix(m.Documents[0].PatientID, openPat.NationalID+"^^^&1.2.250.1.213.1.4.10&ISO") ||
		!m.Documents[0].QualifiedINS {
		t.Errorf("documents = %+v, want the patient id of %s under the test OID", m.Documents, openPat.NationalID)
	}
	if m.Headers["X-MSS-CODECDA"] != "11502-2" || m.Headers["X-MSS-INS"] != "O" || m.Headers["X-MSS-NIL"] == "" {
		t.Errorf("X-MSS headers = %v", m.Headers)
	}
	if strings.HasPrefix(m.DisplaySubject, "XDM/") || !strings.Contains(m.DisplaySubject, "CR d'examens biologiques") {
		t.Errorf("display subject %q", m.DisplaySubject)
	}
	if !m.MDNRequested || !m.DSNRequested {
		t.Errorf("MDN/DSN requests lost: mdn %v dsn %v", m.MDNRequested, m.DSNRequested)
	}

	// The CDA sample of the closed patient's INS, to the closed mailbox: bounce to the sender.
	compose(filepath.Join(dir, "ll.eml"), "n3-lettre-liaison.xml", "--to", closedPat.Address)
	b := inspect(jeanneArgs, "Message non distribué")
	if len(b.Reports) != 1 || b.Reports[0].Recipient != closedPat.Address || b.Reports[0].Action != "failed" ||
		b.Reports[0].Status != "5.2.1" || b.Reports[0].Reason == "" {
		t.Errorf("bounce reports = %+v, want one failed 5.2.1 for %s with a reason", b.Reports, closedPat.Address)
	}
}
