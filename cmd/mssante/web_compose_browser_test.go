package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mssante/mssante/internal/testkit"
	"github.com/mssante/mssante/message"
)

// Writing in a real browser: the derogation dialog for a patient whose identity is not qualified
// shows the sex and birth month decoded from the NIR and must be confirmed, by the form and by the
// server (ECO.2.2.6, ECO.3.1.5).
func TestWeb_browserDerogation(t *testing.T) { eachDialect(t, webBrowserDerogation) }

func webBrowserDerogation(t *testing.T, db string) {
	testkit.LookPath(t, "chromium")
	data := t.TempDir()
	s := startServe(t, "--sandbox", "--sandbox-ports", "random", "--listen", "127.0.0.1:0", "--data-dir", data, "--db", db)
	base, world := s.ready.URL, s.ready.Sandbox.World
	var lefevreINS string
	for _, p := range world.Patients {
		if p.INS == "" || !strings.HasPrefix(p.BirthName, "LEF") {
			continue
		}
		lefevreINS = p.INS
		// Known to the software with a validated but not qualified identity: derogation only.
		if code, out, errOut := runCLI(t, "patients", "add", "--ins", p.INS, "--oid", p.OID, "--birth-name", p.BirthName,
			"--first-name", strings.Fields(p.GivenNames)[0], "--given-names", p.GivenNames, "--birth-date", p.BirthDate,
			"--sex", p.Sex, "--status", "validee", "--data-dir", data, "--db", db); code != 0 {
			t.Fatalf("patients add: %d %s %s", code, out, errOut)
		}
	}
	if lefevreINS == "" {
		t.Fatal("the sandbox has no LEFÈVRE patient")
	}
	ctx := browser(t, 1280, 900)
	webLogin(t, ctx, base, "899700200016")

	t.Run("ECO.2.2.6 derogation dialog", func(t *testing.T) {
		var decoded string
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/app/patients"),
			chromedp.Click(chromedp.Search(`//a[contains(., "Écrire (dérogation)")]`)),
			chromedp.WaitVisible(chromedp.ID("decoded")), into(&decoded, chromedp.Text(chromedp.ID("decoded")))); err != nil {
			t.Fatal(err)
		}
		// LEFÈVRE Françoise, born 1991-12-03, F in the sandbox: what the NIR must say.
		if decoded != "sexe féminin, né(e) en décembre 1991" {
			t.Errorf("decoded = %q", decoded)
		}
		screenshot(t, ctx, "compose-derogation")
		// The form does not go without the confirmation (the checkbox is required)…
		var loc string
		if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("text"), "Bonjour Madame, voici votre compte rendu."),
			chromedp.Click(chromedp.ID("send")), chromedp.Sleep(300*time.Millisecond), into(&loc, chromedp.Location())); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(loc, "/app/compose") {
			t.Fatalf("sent without the confirmation: now at %s", loc)
		}
		// …nor does a request that skips the form's check: the server refuses it.
		var body string
		var off bool
		if err := chromedp.Do(ctx, into(&off, chromedp.Evaluate[bool](`(document.querySelector('[name=derogation_confirmed]').required = false) === false`)),
			chromedp.Click(chromedp.ID("send")), chromedp.WaitVisible(chromedp.CSS(".alert-error")),
			into(&body, chromedp.Text(chromedp.CSS(".alert-error")))); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(body, "Confirmez la date de naissance et le sexe") {
			t.Errorf("unconfirmed derogation: %q", body)
		}
		// Confirmed: the mail goes to the address built from the NIR.
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("decoded")),
			chromedp.Click(chromedp.CSS(`[name=derogation_confirmed]`)), chromedp.SetValue(chromedp.ID("text"), "Bonjour Madame."),
			chromedp.Click(chromedp.ID("send")), chromedp.WaitNotPresent(chromedp.ID("decoded")), into(&loc, chromedp.Location())); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(loc, "/app/sent/") && !strings.Contains(loc, "sent=1") {
			t.Errorf("after the confirmed send: %s", loc)
		}
	})
}

// A file chosen in the compose form reaches the recipient byte for byte, under its name, read back
// by IMAP from the recipient's mailbox with `mssante fetch` (issue 10 item 5, ECO.2.1.1).
func TestWeb_browserAttachFile(t *testing.T) { eachDialect(t, webBrowserAttachFile) }

func webBrowserAttachFile(t *testing.T, db string) {
	testkit.LookPath(t, "chromium")
	data := t.TempDir()
	s := startServe(t, "--sandbox", "--sandbox-ports", "random", "--listen", "127.0.0.1:0", "--data-dir", data, "--db", db)
	base, world := s.ready.URL, s.ready.Sandbox.World
	paul := "paul.fictif@sandbox.mssante.test"
	dir := t.TempDir()
	scan := filepath.Join(dir, "courrier scanné.pdf")
	content := "%PDF-1.4 synthetic scan\x00\xff\x01 " + strings.Repeat("données ", 2000)
	writeFile(t, scan, content)

	ctx := browser(t, 1280, 900)
	webLogin(t, ctx, base, "899700200016")
	var loc string
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/app/compose"), chromedp.WaitVisible(chromedp.ID("files")),
		chromedp.SetValue(chromedp.ID("to"), paul), chromedp.SetValue(chromedp.ID("subject"), "Courrier joint"),
		chromedp.SetValue(chromedp.ID("text"), "Voici le courrier."), chromedp.SetUploadFiles(chromedp.ID("files"), []string{scan}),
		chromedp.Click(chromedp.ID("send")), chromedp.WaitNotPresent(chromedp.ID("files")), into(&loc, chromedp.Location())); err != nil {
		t.Fatalf("compose: %v\nserve log: %s", err, lastLines(s.stderr.String(), 10))
	}
	if !strings.Contains(loc, "/app/sent/") && !strings.Contains(loc, "sent=1") {
		t.Fatalf("not sent: at %s", loc)
	}

	ac := []string{"--autoconfig-url", world.AutoconfigURL, "--trust-root", world.TrustRoot, "--data-dir", data}
	code, tok, errOut := runCLI(t, "sandbox", "token", "--user", "899700300014", "--data-dir", filepath.Join(data, "sandbox"))
	if code != 0 {
		t.Fatalf("sandbox token: %s", errOut)
	}
	paulToken := filepath.Join(dir, "paul.token")
	writeFile(t, paulToken, strings.TrimSpace(tok))
	deadline := time.Now().Add(60 * time.Second)
	var uid string
	for uid == "" {
		code, out, errOut := runCLI(t, append([]string{"list", "--account", paul, "--token-file", paulToken}, ac...)...)
		if code != 0 {
			t.Fatalf("list: %d %s", code, errOut)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "Courrier joint") {
				uid = strings.TrimSpace(strings.SplitN(strings.SplitN(l, `"uid":`, 2)[1], ",", 2)[0])
			}
		}
		if uid == "" && time.Now().After(deadline) {
			t.Fatalf("the mail never reached Paul:\n%s", out)
		}
		time.Sleep(time.Second)
	}
	eml := filepath.Join(dir, "recu.eml")
	if code, out, errOut := runCLI(t, append([]string{"fetch", "--account", paul, "--token-file", paulToken, "--uid", uid, "-o", eml}, ac...)...); code != 0 {
		t.Fatalf("fetch: %d %s %s", code, out, errOut)
	}
	raw, err := os.ReadFile(eml)
	if err != nil {
		t.Fatal(err)
	}
	m, err := message.Parse(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].Name != "courrier scanné.pdf" || string(m.Attachments[0].Data) != content {
		t.Fatalf("attachments of the received mail: %+v", m.Attachments)
	}
}
