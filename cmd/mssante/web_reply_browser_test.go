package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/sandbox"
	"github.com/mssante/mssante/internal/testkit"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/message"
	"github.com/mssante/mssante/trust"
)

// sandboxBox opens address of the sandbox world of s as the professional nationalID (a fresh
// sandbox token, XOAUTH2), to read what a recipient received.
func sandboxBox(t *testing.T, s *serveRun, data, nationalID, address string) *mailbox.Account {
	t.Helper()
	world := s.ready.Sandbox.World
	root, err := trust.ReadCertificates(world.TrustRoot)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := trust.New(trust.Options{Profile: trust.ProfileTest, ExtraRoots: root, SkipRevocation: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := sandbox.FetchToken(t.Context(), filepath.Join(data, "sandbox"), nationalID)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := mailbox.New(mailbox.Options{Address: address, AutoconfigURL: world.AutoconfigURL, Policy: pol,
		Credentials: mailbox.Credentials{Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return tok.AccessToken, nil })}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = acct.Close() })
	return acct
}

// waitReceived polls the INBOX of acct until a mail whose text holds marker arrives, and returns
// it as received (raw and parsed).
func waitReceived(t *testing.T, acct *mailbox.Account, marker string) ([]byte, *message.Message) {
	t.Helper()
	seen := map[uint32]bool{}
	deadline := time.Now().Add(90 * time.Second)
	for {
		list, err := acct.List(t.Context(), "INBOX", nil)
		if err != nil {
			t.Fatalf("list %s: %v", acct.Address(), err)
		}
		for _, m := range list.Messages {
			if seen[m.UID] {
				continue
			}
			seen[m.UID] = true
			var raw bytes.Buffer
			if _, err := acct.Fetch(t.Context(), "INBOX", m.UID, &raw); err != nil {
				t.Fatalf("fetch %s %d: %v", acct.Address(), m.UID, err)
			}
			pm, err := message.Parse(raw.Bytes(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(pm.Text, marker) {
				return raw.Bytes(), pm
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never received the mail %q (%d mails seen)", acct.Address(), marker, len(seen))
		}
		time.Sleep(time.Second)
	}
}

func bareID(id string) string { return strings.Trim(strings.TrimSpace(id), "<>") }

func addrList(list []message.Address) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = strings.ToLower(a.Addr)
	}
	slices.Sort(out)
	return out
}

// Reply, reply-all and forward in a real browser, read back by IMAP from the recipients'
// mailboxes: the answers carry In-Reply-To and References to the original (ECO.2.2.2, threads of
// ECO.3.2.1), reply-all reaches every original recipient but the one answering, and the forward
// carries every attachment of the original: its CDA documents, packaged again as IHE_XDM.zip
// with their PDF/A (ECO.2.1.1, ECO.2.1.5), and its plain file byte for byte (issue 10).
func TestWeb_browserReplyForward(t *testing.T) { eachDialect(t, webBrowserReplyForward) }

func webBrowserReplyForward(t *testing.T, db string) {
	testkit.LookPath(t, "chromium")
	data := t.TempDir()
	s := startServe(t, "--sandbox", "--sandbox-ports", "random", "--listen", "127.0.0.1:0", "--data-dir", data, "--db", db)
	base := s.ready.URL
	const jeanneID, paulID = "899700200016", "899700300014"
	jeanne, paul := "jeanne.essai@sandbox.mssante.test", "paul.fictif@sandbox.mssante.test"
	var urgences, cardio string
	for _, a := range s.ready.Sandbox.World.Accounts {
		switch {
		case strings.HasPrefix(a.Address, "urgences@"):
			urgences = a.Address
		case strings.HasPrefix(a.Address, "cardiologie@"):
			cardio = a.Address
		}
	}
	if urgences == "" || cardio == "" {
		t.Fatalf("sandbox accounts: %+v", s.ready.Sandbox.World.Accounts)
	}

	// Paul writes to Jeanne, copy to the emergency desk, with a CDA document and a scanned
	// prescription (the original).
	paulBox := sandboxBox(t, s, data, paulID, paul)
	cdaDoc, err := os.ReadFile(filepath.Join(testkit.ModuleRoot(t), "cda", "testdata", "n3-cr-imagerie.xml"))
	if err != nil {
		t.Fatal(err)
	}
	scanName, scan := "ordonnance scannée.pdf", "%PDF-1.4 synthetic scan\x00\xfe\x02 "+strings.Repeat("ordonnance ", 1500)
	res, err := paulBox.Send(t.Context(), &mailbox.Draft{Draft: message.Draft{
		From: message.Address{Name: "Paul FICTIF-DEMO", Addr: paul}, To: []message.Address{{Addr: jeanne}},
		Cc: []message.Address{{Addr: urgences}}, Text: "Bonjour Jeanne, le compte rendu et l'ordonnance. [original]",
		CDAs: [][]byte{cdaDoc}, Files: []message.File{{Name: scanName, ContentType: "application/pdf", Data: []byte(scan)}}}}, nil)
	if err != nil {
		t.Fatalf("Paul's original: %v", err)
	}
	orig, err := message.Parse(res.Composed.Data, nil)
	if err != nil {
		t.Fatal(err)
	}
	origID := bareID(res.Composed.MessageID)
	if len(orig.Documents) != 1 || len(orig.PDFs) != 2 {
		t.Fatalf("original: documents %+v, PDFs %v", orig.Documents, orig.PDFs)
	}

	ctx := browser(t, 1280, 900)
	webLogin(t, ctx, base, jeanneID)
	waitText(t, ctx, base+"/app/inbox", "imagerie")
	var readURL string
	if err := chromedp.Do(ctx, openLink(`//a[contains(., "imagerie")]`),
		chromedp.WaitVisible(chromedp.ID("reply")), into(&readURL, chromedp.Location())); err != nil {
		t.Fatalf("open the original: %v\nserve log: %s", err, lastLines(s.stderr.String(), 10))
	}

	// answer clicks button on the original's page, checks the prefilled form, writes text and
	// sends. Each step to the form has its own bound and a failure shows the page: under the
	// browser's 3-minute deadline alone, the 404 the reply links once gave was a bare timeout.
	answer := func(t *testing.T, button, to, text string) (gotTo, gotCc string) {
		t.Helper()
		var loc string
		for i, a := range []chromedp.Action[chromedp.Void]{chromedp.Navigate(readURL), chromedp.WaitVisible(chromedp.ID(button)),
			chromedp.Click(chromedp.ID(button)), chromedp.WaitVisible(chromedp.ID("text")),
			into(&gotTo, chromedp.Value(chromedp.ID("to"))), into(&gotCc, chromedp.Value(chromedp.ID("cc")))} {
			sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			err := chromedp.Do(sctx, a)
			cancel()
			if err != nil {
				var loc, body string
				_ = chromedp.Do(ctx, into(&loc, chromedp.Location()), into(&body, chromedp.Evaluate[string](`document.body.innerHTML`)))
				t.Fatalf("%s step %d: %v at %s\n%s", button, i, err, loc, body)
			}
		}
		if to != "" {
			if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("to"), to)); err != nil {
				t.Fatal(err)
			}
		}
		if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("text"), text), chromedp.Click(chromedp.ID("send")),
			chromedp.WaitNotPresent(chromedp.ID("text")), into(&loc, chromedp.Location())); err != nil {
			t.Fatalf("%s: send: %v\nserve log: %s", button, err, lastLines(s.stderr.String(), 10))
		}
		if !strings.Contains(loc, "/app/sent/") && !strings.Contains(loc, "sent=1") {
			var body string
			_ = chromedp.Do(ctx, into(&body, chromedp.Text(chromedp.CSS("main"))))
			t.Fatalf("%s: not sent, at %s: %s", button, loc, body)
		}
		return gotTo, gotCc
	}
	threaded := func(t *testing.T, m *message.Message) {
		t.Helper()
		if len(m.InReplyTo) != 1 || bareID(m.InReplyTo[0]) != origID {
			t.Errorf("In-Reply-To %v, want <%s>", m.InReplyTo, origID)
		}
		if !slices.ContainsFunc(m.References, func(r string) bool { return bareID(r) == origID }) {
			t.Errorf("References %v lack <%s>", m.References, origID)
		}
		if m.MessageID == "" || bareID(m.MessageID) == origID {
			t.Errorf("Message-ID %q", m.MessageID)
		}
	}

	t.Run("ECO.2.2.2 ECO.3.2.1 reply: to the sender, threaded", func(t *testing.T) {
		to, cc := answer(t, "reply", "", "Merci Paul. [reponse]")
		if !strings.Contains(to, paul) || cc != "" {
			t.Errorf("reply form: to %q cc %q", to, cc)
		}
		_, m := waitReceived(t, paulBox, "[reponse]")
		threaded(t, m)
		if got := addrList(append(m.To, m.Cc...)); !slices.Equal(got, []string{paul}) {
			t.Errorf("reply recipients %v, want only %s", got, paul)
		}
	})

	t.Run("ECO.2.2.2 ECO.3.2.1 reply-all: every recipient but oneself, threaded", func(t *testing.T) {
		to, cc := answer(t, "reply-all", "", "Merci à tous. [reponse-tous]")
		if !strings.Contains(to, paul) || !strings.Contains(cc, urgences) || strings.Contains(to+cc, jeanne) {
			t.Errorf("reply-all form: to %q cc %q", to, cc)
		}
		_, m := waitReceived(t, paulBox, "[reponse-tous]")
		threaded(t, m)
		if got, want := addrList(append(m.To, m.Cc...)), addrList([]message.Address{{Addr: paul}, {Addr: urgences}}); !slices.Equal(got, want) {
			t.Errorf("reply-all recipients %v, want %v", got, want)
		}
		// The copy reached the emergency desk's mailbox too.
		_, m2 := waitReceived(t, sandboxBox(t, s, data, paulID, urgences), "[reponse-tous]")
		threaded(t, m2)
	})

	t.Run("ECO.2.1.1 forward carries the documents and the files", func(t *testing.T) {
		var listed string
		if err := chromedp.Do(ctx, chromedp.Navigate(readURL), chromedp.WaitVisible(chromedp.ID("forward")),
			chromedp.Click(chromedp.ID("forward")), chromedp.WaitVisible(chromedp.ID("text")),
			into(&listed, chromedp.Text(chromedp.ID("compose")))); err != nil {
			t.Fatal(err)
		}
		screenshot(t, ctx, "compose-forward")
		_, listed, _ = strings.Cut(listed, "Pièces transférées")
		listed, _, _ = strings.Cut(listed, "\n")
		for _, want := range []string{"IHE_XDM.zip", scanName} {
			if n := strings.Count(listed, want); n != 1 {
				t.Errorf("forward form lists %q %d times:\n%s", want, n, listed)
			}
		}
		answer(t, "forward", cardio, "Pour avis. [transfert]")
		raw, m := waitReceived(t, sandboxBox(t, s, data, paulID, cardio), "[transfert]")
		if len(m.InReplyTo) != 0 {
			t.Errorf("a forward is not a reply: In-Reply-To %v", m.InReplyTo)
		}
		// The documents, packaged again: same CDA in IHE_XDM.zip, its PDF/A rendering.
		if len(m.XDM) == 0 || len(m.Documents) != 1 || m.Documents[0].Code != orig.Documents[0].Code ||
			m.Documents[0].Title != orig.Documents[0].Title || m.Documents[0].PatientID != orig.Documents[0].PatientID {
			t.Errorf("forwarded documents %+v, want %+v", m.Documents, orig.Documents)
		}
		if m.Headers["X-MSS-CODECDA"] != orig.Headers["X-MSS-CODECDA"] {
			t.Errorf("X-MSS-CODECDA %q, want %q", m.Headers["X-MSS-CODECDA"], orig.Headers["X-MSS-CODECDA"])
		}
		var pdfa, file int
		for _, a := range m.Attachments {
			switch {
			case a.Name == scanName:
				file++
				if string(a.Data) != scan {
					t.Errorf("forwarded %s differs (%d bytes, want %d)", scanName, len(a.Data), len(scan))
				}
			case strings.HasSuffix(strings.ToLower(a.Name), ".pdf"):
				pdfa++
				if !bytes.HasPrefix(a.Data, []byte("%PDF-")) {
					t.Errorf("%s is not a PDF", a.Name)
				}
			}
		}
		if pdfa != 1 || file != 1 {
			t.Errorf("forward: %d PDF/A, %d %s; attachments %v", pdfa, file, scanName, attNames(m))
		}
		if len(raw) == 0 {
			t.Error("empty mail")
		}
	})
}

func attNames(m *message.Message) []string {
	var out []string
	for _, a := range m.Attachments {
		out = append(out, a.Name)
	}
	return out
}
