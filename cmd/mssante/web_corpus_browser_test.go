package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mssante/mssante/internal/testkit"
)

// insOIDs are the roots of an INS (NIR, NIA and their test authorities, facts/ins.md).
var insOIDs = map[string]bool{"1.2.250.1.213.1.4.8": true, "1.2.250.1.213.1.4.9": true,
	"1.2.250.1.213.1.4.10": true, "1.2.250.1.213.1.4.11": true}

// Issue 10's acceptance, driven as a new user would: `mssante serve --sandbox`, a professional
// logs in, software sends her mails carrying every real CDA of the ANS corpus (documents the
// code was not written against) from the CLI, and her inbox shows each one with its subject
// without the XDM prefix (ECO.3.1.3), its document type (the CDA's code, as METADATA.XML labels
// it) and its patient's INS when the document names one (ECO.3.1.2, ECO.3.2.2).
func TestWeb_browserCorpusCDAs_ECO_3_1_3(t *testing.T) { eachDialect(t, webBrowserCorpusCDAs) }

func webBrowserCorpusCDAs(t *testing.T, db string) {
	testkit.LookPath(t, "chromium")
	const jeanne, dpi = "jeanne.essai@sandbox.mssante.test", "dpi@hopital.sandbox.mssante.test"
	mails := composeCorpus(t, dpi, "DPI Hôpital", jeanne)
	data := t.TempDir()
	s := startServe(t, "--sandbox", "--sandbox-ports", "random", "--listen", "127.0.0.1:0", "--data-dir", data, "--db", db)
	base, world := s.ready.URL, s.ready.Sandbox.World
	var dpiCert, dpiKey string
	for _, a := range world.Accounts {
		if a.Address == dpi {
			dpiCert, dpiKey = a.Cert, a.Key
		}
	}
	if dpiCert == "" {
		t.Fatalf("the sandbox has no account %s", dpi)
	}

	// What a reader of each CDA expects to see, by display subject (several may share one).
	type want struct {
		name, label string
		ins         []string // extensions of the recordTarget ids with an INS root
		ids         []string // every recordTarget id extension
		seen        bool
	}
	expect := map[string][]*want{}
	var files []string
	for _, m := range mails {
		w := &want{name: m.name, label: m.facts.label}
		for _, id := range m.facts.ids {
			w.ids = append(w.ids, id[1])
			if insOIDs[id[0]] {
				w.ins = append(w.ins, id[1])
			}
		}
		subject := strings.TrimPrefix(m.subject, "XDM/1.0/DDM+")
		if subject == m.subject {
			t.Errorf("%s: compose subject %q has no XDM prefix", m.name, m.subject)
		}
		expect[subject] = append(expect[subject], w)
		files = append(files, m.eml)
	}
	// One `send` run, one SMTP session, the applicative mailbox's client certificate.
	args := append(append([]string{"send"}, files...), "--account", dpi, "--cert", dpiCert, "--key", dpiKey,
		"--autoconfig-url", world.AutoconfigURL, "--trust-root", world.TrustRoot, "--data-dir", data, "--db", db)
	if code, out, errOut := runCLI(t, args...); code != 0 {
		t.Fatalf("send: %d %s %s", code, out, errOut)
	}

	ctx := browser(t, 1280, 900)
	webLogin(t, ctx, base, "899700200016")
	type row struct {
		Subject string   `json:"subject"`
		Docs    []string `json:"docs"`
	}
	const rowsJS = `Array.from(document.querySelectorAll('#messages > li')).map(li => ({
		subject: li.querySelector('.msg-subject').textContent.replace(/^Non lu : /, '').replace(/ \(\d+ messages\)$/, '').trim(),
		docs: Array.from(li.querySelectorAll('.doc-badge')).map(b => b.textContent.trim())}))`
	var rows []row
	deadline := time.Now().Add(90 * time.Second)
	for {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/app/inbox"), chromedp.WaitVisible(chromedp.ID("messages")),
			into(&rows, chromedp.EvaluateAsDevTools[[]row](rowsJS))); err != nil {
			t.Fatal(err)
		}
		n := 0 // rows of the mails sent
		for _, r := range rows {
			if len(expect[r.Subject]) > 0 {
				n++
			}
		}
		if n >= len(files) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	for _, r := range rows {
		cands := expect[r.Subject]
		if len(cands) == 0 {
			continue // a sandbox mail
		}
		if len(r.Docs) != 1 {
			t.Errorf("%q: %d document badges %q, want 1", r.Subject, len(r.Docs), r.Docs)
			continue
		}
		badge := r.Docs[0]
		var match *want
		for _, w := range cands {
			if w.seen || !strings.HasPrefix(badge, w.label) {
				continue
			}
			_, shown, hasINS := strings.Cut(badge, "INS ")
			if hasINS != (len(w.ins) > 0) || hasINS && !slices.Contains(w.ins, strings.TrimSpace(shown)) {
				continue
			}
			match = w
			break
		}
		if match == nil {
			t.Errorf("%q: badge %q matches none of the CDAs sent with that subject:", r.Subject, badge)
			for _, w := range cands {
				t.Errorf("  %s: label %q, INS %v (patient ids %v)", w.name, w.label, w.ins, w.ids)
			}
			continue
		}
		match.seen = true
	}
	missing, withINS := 0, 0
	for subject, ws := range expect {
		for _, w := range ws {
			if len(w.ins) > 0 {
				withINS++
			}
			if !w.seen {
				missing++
				t.Errorf("%s (%q) not in the inbox as expected", w.name, subject)
			}
		}
	}
	t.Logf("%d corpus mails shown in the web inbox (%d with the patient's INS), %d missing", len(files)-missing, withINS, missing)
}
