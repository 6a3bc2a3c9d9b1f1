package main

import (
	"bytes"
	"context"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/mssante/mssante/internal/testkit"
)

// The web app driven in a real browser (Debian's chromium through chromedp), against
// `mssante serve --sandbox` in the process: PSC emulator login, operator over IMAP/SMTP STARTTLS.

var updateScreens = flag.Bool("update-screens", os.Getenv("MSSANTE_UPDATE_SCREENS") == "1",
	"write PNG screenshots of the web app's main screens to docs/screens/")

// browser starts a headless chromium with a fresh profile; it skips when chromium is absent
// (fails under MSSANTE_REQUIRE_PEERS=1).
func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	path := testkit.LookPath(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(width, height))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// webLogin logs in through the PSC emulator's page as the professional nationalID.
func webLogin(t *testing.T, ctx context.Context, base, nationalID string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.Click(chromedp.CSS(`a[href="/auth/login"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a.login[href*="pro=`+nationalID+`"]`)),
		chromedp.Click(chromedp.CSS(`a.login[href*="pro=`+nationalID+`"]`)),
		chromedp.WaitVisible(chromedp.ID("messages")),
	); err != nil {
		t.Fatalf("login as %s: %v", nationalID, err)
	}
}

// screenshot writes docs/screens/name.png when -update-screens is given.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if !*updateScreens {
		return
	}
	var png []byte
	if err := chromedp.Do(ctx, chromedp.Sleep(300*time.Millisecond), into(&png, chromedp.FullScreenshot(100))); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join(testkit.ModuleRoot(t), "docs", "screens")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// openLink opens the first link matching xpath by its address rather than by a click: the
// inbox's list is replaced live (sync events), and a click whose press and release land on the
// old and the new list goes nowhere.
func openLink(xpath string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := chromedp.WaitVisible(chromedp.Search(xpath))(ctx, t); err != nil {
			return chromedp.Void{}, err
		}
		href, err := chromedp.Evaluate[string](`document.evaluate(`+strconv.Quote(xpath)+
			`, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue.href`)(ctx, t)
		if err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.Navigate(href)(ctx, t)
	}
}

// waitText waits until the page body holds text (sync and IDLE bring new mail in).
func waitText(t *testing.T, ctx context.Context, target, text string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var body string
		if err := chromedp.Do(ctx, chromedp.Navigate(target), into(&body, chromedp.Text(chromedp.CSS("body")))); err != nil {
			t.Fatalf("navigate %s: %v", target, err)
		}
		if strings.Contains(body, text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %q; last page:\n%s", target, text, body)
		}
		time.Sleep(time.Second)
	}
}

// The main flow (login, read, compose, send, MDN) on each database dialect of serve (SQLite and
// PostgreSQL, storetest).
func TestWeb_browser(t *testing.T) { eachDialect(t, webBrowserFlow) }

func webBrowserFlow(t *testing.T, db string) {
	testkit.LookPath(t, "chromium")
	data := t.TempDir()
	s := startServe(t, "--sandbox", "--sandbox-ports", "random", "--listen", "127.0.0.1:0", "--data-dir", data, "--db", db)
	base, world := s.ready.URL, s.ready.Sandbox.World
	jeanne, paul := "jeanne.essai@sandbox.mssante.test", "paul.fictif@sandbox.mssante.test"
	var dpiCert, dpiKey, patientBox string
	for _, a := range world.Accounts {
		switch a.Kind {
		case "applicative":
			dpiCert, dpiKey = a.Cert, a.Key
		case "patient":
			if !a.Closed && patientBox == "" {
				patientBox = a.Address
			}
		}
	}
	_ = dpiKey
	// The known patients of the software (ECO.3.1.5): the sandbox's, with their identity status.
	for _, p := range world.Patients {
		if p.INS == "" {
			continue
		}
		status := "qualifiee"
		if p.Closed {
			status = "validee" // a patient without a qualified identity: derogation only
		}
		args := []string{"patients", "add", "--ins", p.INS, "--oid", p.OID, "--birth-name", p.BirthName, "--first-name",
			strings.Fields(p.GivenNames)[0], "--given-names", p.GivenNames, "--birth-date", p.BirthDate, "--sex", p.Sex,
			"--status", status, "--data-dir", data, "--db", db}
		if code, out, errOut := runCLI(t, args...); code != 0 {
			t.Fatalf("patients add: %d %s %s", code, out, errOut)
		}
	}
	// A patient writes to Jeanne (Mon espace santé sender, ECO.3.1.1/3.1.2), sent from the CLI
	// through the operator.
	patientMail := filepath.Join(t.TempDir(), "patient.eml")
	matricule := strings.SplitN(patientBox, "@", 2)[0]
	writeFile(t, patientMail, "From: Clara PETIT <"+patientBox+">\r\nTo: <"+jeanne+">\r\nSubject: Question sur mon traitement\r\n"+
		"Message-ID: <patient-q1@patient.sandbox.mssante.test>\r\nDate: "+time.Now().Format(time.RFC1123Z)+"\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour Docteur, dois-je continuer le traitement ?\r\n")
	htmlMail := filepath.Join(t.TempDir(), "html.eml")
	writeFile(t, htmlMail, "From: DPI <dpi@hopital.sandbox.mssante.test>\r\nTo: <"+jeanne+">\r\nSubject: Résultats en HTML\r\n"+
		"Message-ID: <html-1@hopital.sandbox.mssante.test>\r\nDate: "+time.Now().Format(time.RFC1123Z)+"\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"+
		`<p>Bonjour <b>Docteur</b>, vos résultats.</p><script>parent.document.title='PWNED';fetch('https://tracker.example/js')</script>`+
		`<img src="https://tracker.example/pixel.png" onerror="parent.document.title='PWNED'" alt="pixel"><a href="javascript:parent.document.title='PWNED'">lien</a>`+"\r\n")
	ac := []string{"--autoconfig-url", world.AutoconfigURL, "--trust-root", world.TrustRoot, "--data-dir", data, "--db", db}
	// The operator refuses a From its user does not own, so the patient's mail is put in Jeanne's
	// INBOX by IMAP APPEND with her own token, as Mon espace santé's delivery would leave it.
	acct := sandboxBox(t, s, data, "899700200016", jeanne)
	ic, err := acct.DialIMAP(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(patientMail)
	if _, err := ic.Append(context.Background(), "INBOX", nil, bytes.NewReader(raw), int64(len(raw))); err != nil {
		t.Fatal(err)
	}
	_ = ic.Close()
	for _, f := range []string{htmlMail} {
		args := append([]string{"send", f, "--account", "dpi@hopital.sandbox.mssante.test", "--cert", dpiCert, "--key", dpiKey}, ac...)
		if code, out, errOut := runCLI(t, args...); code != 0 {
			t.Fatalf("send %s: %d %s %s", f, code, out, errOut)
		}
	}

	ctx := browser(t, 1280, 900)
	// Every request the page makes (a mail's remote content must not be fetched).
	var mu sync.Mutex
	var requests []string
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	go func() {
		for ev, err := range chromedp.Events(ctx, network.RequestWillBeSent) {
			if err != nil {
				return
			}
			mu.Lock()
			requests = append(requests, ev.Request.URL)
			mu.Unlock()
		}
	}()
	webLogin(t, ctx, base, "899700200016")

	t.Run("ECO.3.1.2 patient mail shows the patient identity", func(t *testing.T) {
		waitText(t, ctx, base+"/app/inbox", "Question sur mon traitement")
		screenshot(t, ctx, "inbox")
		var list string
		if err := chromedp.Do(ctx, into(&list, chromedp.Text(chromedp.ID("messages")))); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Patient", "PETIT", "INS " + matricule, "Professionnel", "CR d'examens biologiques"} {
			if !strings.Contains(list, want) {
				t.Errorf("inbox lacks %q:\n%s", want, list)
			}
		}
		if strings.Contains(list, "XDM/1.0/DDM") { // ECO.3.1.3
			t.Error("XDM prefix shown")
		}
		var card string
		if err := chromedp.Do(ctx, openLink(`//a[contains(., "Question sur mon traitement")]`),
			chromedp.WaitVisible(chromedp.CSS(".patient-card")), into(&card, chromedp.Text(chromedp.CSS(".patient-card")))); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(card, "PETIT") || !strings.Contains(card, matricule) {
			t.Errorf("patient card: %s", card)
		}
		screenshot(t, ctx, "read-patient")
	})

	t.Run("CDA document read with header, narrative and PDF", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/app/inbox"),
			openLink(`//a[contains(., "CR d'examens biologiques")]`),
			chromedp.WaitVisible(chromedp.CSS(".cda .narrative"))); err != nil {
			t.Fatal(err)
		}
		var hdr string
		_ = chromedp.Do(ctx, into(&hdr, chromedp.Text(chromedp.CSS(".cda-header"))))
		if !strings.Contains(hdr, "CHÂTEAU") {
			t.Errorf("CDA header: %s", hdr)
		}
		screenshot(t, ctx, "read-cda")
	})

	t.Run("HTML mail: scripts and remote images neutralised", func(t *testing.T) {
		mu.Lock()
		requests = nil
		mu.Unlock()
		var title string
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/app/inbox"),
			openLink(`//a[contains(., "Résultats en HTML")]`),
			chromedp.WaitVisible(chromedp.CSS("iframe.html-body")), chromedp.Sleep(time.Second),
			into(&title, chromedp.Title())); err != nil {
			t.Fatal(err)
		}
		if title == "PWNED" {
			t.Error("a script of the mail ran")
		}
		mu.Lock()
		defer mu.Unlock()
		for _, r := range requests {
			if strings.Contains(r, "tracker.example") {
				t.Errorf("remote content loaded: %s", r)
			}
		}
		var visible bool
		_ = chromedp.Do(ctx, into(&visible, chromedp.Evaluate[bool](`!!document.querySelector('#show-remote')`)))
		if !visible {
			t.Error("no 'afficher le contenu distant'")
		}
		screenshot(t, ctx, "read-html")
	})

	t.Run("ECO.3.1.4 send a CDA to a colleague found by directory search", func(t *testing.T) {
		cdaFile := filepath.Join(testkit.ModuleRoot(t), "cda", "testdata", "n3-cr-imagerie.xml")
		var to string
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/app/compose"),
			chromedp.WaitVisible(chromedp.ID("to")),
			chromedp.SendKeys(chromedp.ID("to"), "fictif"),
			chromedp.WaitVisible(chromedp.CSS(`#to-suggest li`)),
		); err != nil {
			t.Fatal(err)
		}
		screenshot(t, ctx, "compose-autocomplete")
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#to-suggest li`)), into(&to, chromedp.Value(chromedp.ID("to")))); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(to, paul) {
			t.Fatalf("autocomplete gave %q, want %s", to, paul)
		}
		if err := chromedp.Do(ctx,
			chromedp.SetUploadFiles(chromedp.ID("cda"), []string{cdaFile}),
			chromedp.SendKeys(chromedp.ID("text"), "Bonjour Paul, le compte rendu d'imagerie."),
			chromedp.Click(chromedp.CSS(`input[name="mdn"]`)),
			chromedp.Click(chromedp.ID("send")),
			chromedp.WaitVisible(chromedp.CSS("#sent-page, .alert-error")),
		); err != nil {
			t.Fatal(err)
		}
		var errText string
		_ = chromedp.Do(ctx, into(&errText, chromedp.Evaluate[string](`(document.querySelector('.alert-error')||{}).textContent||''`)))
		if errText != "" {
			t.Fatalf("send refused: %s", errText)
		}
	})

	t.Run("ECO.3.1.5 write to a patient with a qualified INS", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/app/patients"), chromedp.WaitVisible(chromedp.CSS("table"))); err != nil {
			t.Fatal(err)
		}
		screenshot(t, ctx, "patients")
		var errText string
		if err := chromedp.Do(ctx,
			chromedp.Click(chromedp.Search(`//a[contains(., "Écrire au patient")]`)),
			chromedp.WaitVisible(chromedp.ID("patient-rcpt")),
			chromedp.WaitVisible(chromedp.ID("fin-option")), // offered with a patient recipient
			chromedp.SendKeys(chromedp.ID("subject"), "Votre rendez-vous"),
			chromedp.SendKeys(chromedp.ID("text"), "Bonjour, votre rendez-vous est confirmé."),
			chromedp.Click(chromedp.ID("fin")),
			chromedp.Click(chromedp.ID("send")),
			chromedp.WaitVisible(chromedp.CSS("#sent-page, .alert-error")),
			into(&errText, chromedp.Evaluate[string](`(document.querySelector('.alert-error')||{}).textContent||''`)),
		); err != nil {
			t.Fatal(err)
		}
		if errText != "" {
			t.Fatalf("send to the patient refused: %s", errText)
		}
	})

	t.Run("keyboard-only reading of the inbox", func(t *testing.T) {
		var loc string
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/app/inbox"), chromedp.WaitVisible(chromedp.ID("messages")),
			chromedp.KeyEvent("?"), chromedp.WaitVisible(chromedp.ID("help"))); err != nil {
			t.Fatal(err)
		}
		screenshot(t, ctx, "help")
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(chromedp.ID("help")),
			chromedp.KeyEvent("j"), chromedp.KeyEvent("j"), chromedp.KeyEvent(kb.Enter),
			chromedp.WaitVisible(chromedp.ID("mail-subject")), into(&loc, chromedp.Location())); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(loc, "/app/mail/") {
			t.Fatalf("Enter on the second message went to %s", loc)
		}
		var tabbable int
		if err := chromedp.Do(ctx, chromedp.KeyEvent("u"), chromedp.WaitVisible(chromedp.ID("messages")),
			into(&tabbable, chromedp.Evaluate[int](`document.querySelectorAll('#messages .msg-link[tabindex="0"]').length`))); err != nil {
			t.Fatal(err)
		}
		if tabbable != 1 {
			t.Errorf("roving tabindex: %d tab stops in the list, want 1", tabbable)
		}
	})

	t.Run("another professional's mailbox refused", func(t *testing.T) {
		pctx := browser(t, 820, 1000) // Paul, in his own browser, on a tablet
		webLogin(t, pctx, base, "899700300014")
		screenshot(t, pctx, "inbox-tablet")
		var body string
		if err := chromedp.Do(pctx, chromedp.Navigate(base+"/app/inbox?mb="+url.QueryEscape(jeanne)),
			into(&body, chromedp.Text(chromedp.CSS("main")))); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(body, "introuvable") || strings.Contains(body, "Question sur mon traitement") {
			t.Errorf("Paul on Jeanne's mailbox: %s", body)
		}
		if err := chromedp.Do(pctx, chromedp.Navigate(base+"/app/mail/"+url.PathEscape(jeanne)+"/1?folder=INBOX"),
			into(&body, chromedp.Text(chromedp.CSS("main")))); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(body, "introuvable") {
			t.Errorf("Paul on Jeanne's message 1: %s", body)
		}

		// ECO.3.1.6 MDN round trip: Paul reads Jeanne's CDA mail, which asks for a read receipt,
		// and sends it; Jeanne's sent mail then shows "Lu".
		waitText(t, pctx, base+"/app/inbox?mb="+url.QueryEscape(paul), "imagerie")
		if err := chromedp.Do(pctx, openLink(`//a[contains(., "imagerie")]`),
			chromedp.WaitVisible(chromedp.ID("mail-subject"))); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(pctx, 30*time.Second)
		err := chromedp.Do(wctx, chromedp.WaitVisible(chromedp.ID("send-mdn")))
		cancel()
		if err != nil {
			var loc string
			_ = chromedp.Do(pctx, into(&loc, chromedp.Location()), into(&body, chromedp.Text(chromedp.CSS("main"))))
			t.Fatalf("no read receipt button on %s: %v\n%s\nserve log: %s", loc, err, body, lastLines(s.stderr.String(), 15))
		}
		if err := chromedp.Do(pctx, chromedp.Click(chromedp.ID("send-mdn")),
			chromedp.WaitNotPresent(chromedp.ID("send-mdn")), into(&body, chromedp.Text(chromedp.CSS("main")))); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(body, "Accusé de lecture envoyé") {
			t.Fatalf("MDN not sent: %s\nserve log: %s", body, lastLines(s.stderr.String(), 15))
		}
		waitText(t, ctx, base+"/app/inbox?folder=Sent&mb="+url.QueryEscape(jeanne), "imagerie")
		if err := chromedp.Do(ctx, openLink(`//a[contains(., "imagerie")]`),
			chromedp.WaitVisible(chromedp.ID("mail-subject"))); err != nil {
			t.Fatal(err)
		}
		var loc string
		_ = chromedp.Do(ctx, into(&loc, chromedp.Location()))
		// The receipt goes through Paul's outbox, then Jeanne's sync (IDLE) brings it in.
		read := regexp.MustCompile(`(?m)^\W*Lu\b`)
		deadline := time.Now().Add(90 * time.Second)
		for {
			var tl string
			if err := chromedp.Do(ctx, chromedp.Navigate(loc), chromedp.WaitVisible(chromedp.CSS(".timeline")),
				into(&tl, chromedp.Text(chromedp.CSS(".timeline")))); err != nil {
				t.Fatal(err)
			}
			if read.MatchString(tl) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("timeline of the sent mail has no read receipt: %s", tl)
			}
			time.Sleep(time.Second)
		}
		screenshot(t, ctx, "sent-timeline")
	})

}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	out, errOut, code := runMain(t, args...)
	return code, out, errOut
}

// into runs a value action and stores its value in *dst: an Action[Void] for chromedp.Do.
func into[T any](dst *T, a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		v, err := a(ctx, t)
		*dst = v
		return chromedp.Void{}, err
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
