package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/testkit"
	"github.com/mssante/mssante/internal/testpki"
)

// cdaFacts is what a reader of the CDA header alone expects of the mail index: the document code
// and the patient ids of recordTarget/patientRole. Read here with encoding/xml, not package cda,
// so that the index is checked against the document, not against itself.
type cdaFacts struct {
	code  string
	label string      // code@displayName
	ids   [][2]string // root, extension
}

func readCDAFacts(t *testing.T, raw []byte) cdaFacts {
	t.Helper()
	var f cdaFacts
	dec := xml.NewDecoder(bytes.NewReader(raw))
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	var path []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("CDA: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			path = append(path, e.Name.Local)
			p := strings.Join(path, "/")
			attr := func(n string) string {
				for _, a := range e.Attr {
					if a.Name.Local == n {
						return a.Value
					}
				}
				return ""
			}
			switch p {
			case "ClinicalDocument/code":
				f.code, f.label = attr("code"), attr("displayName")
			case "ClinicalDocument/recordTarget/patientRole/id":
				f.ids = append(f.ids, [2]string{attr("root"), attr("extension")})
			}
		case xml.EndElement:
			path = path[:len(path)-1]
		}
	}
	return f
}

// Every real CDA of the ANS corpus, composed with `mssante compose`, delivered to Dovecot, synced
// with `mssante sync` and listed offline with `mssante mail list`: the document type is the CDA's
// code, the document's patient is one of the CDA's patient ids, and the display subject is the
// subject without its XDM prefix (ECO.1.0.2, ECO.2.1.2, ECO.3.1.3, ECO.3.2.2).
func TestMailList_corpus_ECO_3_1_3(t *testing.T) {
	const carol = "carol@test.mssante.fr"
	mails := composeCorpus(t, "jean.dupont@hopital-a.mssante.fr", "Dr Jean DUPONT", carol)
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	st := peertest.Start(t, peertest.Options{PKI: pki, NoPostfix: true})
	dir := t.TempDir()
	byID := map[string]corpusMail{}
	for _, m := range mails {
		data, err := os.ReadFile(m.eml)
		if err != nil {
			t.Fatal(err)
		}
		st.Deliver(carol, "INBOX", data)
		byID[m.messageID] = m
	}

	trustRoot, tokenFile, data := filepath.Join(dir, "root.pem"), filepath.Join(dir, "token"), filepath.Join(dir, "data")
	writeTestFile(t, trustRoot, pki.RootPEM())
	writeTestFile(t, tokenFile, []byte(st.Token(carol, time.Hour)))
	if _, errOut, code := runMain(t, "sync", "--account", carol, "--token-file", tokenFile, "--imap", st.IMAP,
		"--trust-root", trustRoot, "--data-dir", data); code != 0 {
		t.Fatalf("sync: code %d: %s\n%s", code, errOut, st.Logs())
	}
	out, errOut, code := runMain(t, "mail", "list", "--account", carol, "--data-dir", data)
	if code != 0 {
		t.Fatalf("mail list: code %d: %s", code, errOut)
	}
	type line struct {
		MessageID      string `json:"message_id"`
		SenderKind     string `json:"sender_kind"`
		DisplaySubject string `json:"display_subject"`
		Documents      []struct {
			TypeCode  string `json:"type_code"`
			TypeLabel string `json:"type_label"`
			PatientID string `json:"patient_id"`
		} `json:"documents"`
	}
	seen := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		s, ok := byID[l.MessageID]
		if !ok {
			t.Errorf("unknown message %s", l.MessageID)
			continue
		}
		seen++
		if want := strings.TrimPrefix(s.subject, "XDM/1.0/DDM+"); l.DisplaySubject != want || want == s.subject {
			t.Errorf("%s: display_subject %q, want %q (subject %q)", s.name, l.DisplaySubject, want, s.subject)
		}
		if l.SenderKind != "professional" || len(l.Documents) != 1 {
			t.Errorf("%s: sender_kind %q, %d documents", s.name, l.SenderKind, len(l.Documents))
			continue
		}
		d := l.Documents[0]
		if d.TypeCode != s.facts.code || d.TypeLabel == "" || s.facts.label != "" && d.TypeLabel != s.facts.label {
			t.Errorf("%s: type %q %q, want code %q %q", s.name, d.TypeCode, d.TypeLabel, s.facts.code, s.facts.label)
		}
		match := false
		for _, id := range s.facts.ids {
			if id[1] != "" && strings.HasPrefix(d.PatientID, id[1]+"^^^&"+id[0]) {
				match = true
			}
		}
		if !match {
			t.Errorf("%s: patient_id %q is none of the CDA's patient ids %v", s.name, d.PatientID, s.facts.ids)
		}
	}
	t.Logf("%d corpus mails listed", seen)
	if seen != len(byID) {
		t.Errorf("mail list shows %d of the %d mails", seen, len(byID))
	}
}

// corpusMail is one CDA of the ANS corpus composed into a mail by `mssante compose`.
type corpusMail struct {
	name, eml          string // the CDA's file name, the mail's file
	messageID, subject string // as compose printed them
	facts              cdaFacts
}

// composeCorpus composes one mail from `from` to `to` per CDA of the ANS corpus (../shared),
// with `mssante compose --cda` (N1 documents as they are); it fails the test unless most of the
// corpus composes.
func composeCorpus(t *testing.T, from, label, to string) []corpusMail {
	t.Helper()
	corpus := testkit.Shared(t, "corpus", "cda")
	entries, err := os.ReadDir(corpus)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var out []corpusMail
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.EqualFold(filepath.Ext(name), ".xml") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(corpus, name))
		if err != nil {
			t.Fatal(err)
		}
		eml := filepath.Join(dir, name+".eml")
		stdout, errOut, code := runMain(t, "compose", "--from", from, "--from-label", label, "--to", to,
			"--cda", filepath.Join(corpus, name), "--n1-as-is", "-o", eml)
		if code != 0 {
			t.Errorf("%s: compose exit %d: %s", name, code, errOut)
			continue
		}
		var c struct {
			MessageID string `json:"message_id"`
			Subject   string `json:"subject"`
		}
		if err := json.Unmarshal([]byte(stdout), &c); err != nil {
			t.Fatal(err)
		}
		out = append(out, corpusMail{name: name, eml: eml, messageID: c.MessageID, subject: c.Subject, facts: readCDAFacts(t, raw)})
	}
	if len(out) < 10 {
		t.Fatalf("%d corpus mails composed, want the whole corpus", len(out))
	}
	return out
}
