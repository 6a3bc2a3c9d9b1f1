package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mssante/mssante/internal/testkit"
)

// Writing in a real browser: the derogation dialog for a patient whose identity is not qualified
// shows the sex and birth month decoded from the NIR and must be confirmed, by the form and by the
// server (ECO.2.2.6, ECO.3.1.5).
func TestWeb_browserDerogation(t *testing.T) {
	testkit.LookPath(t, "chromium")
	data := t.TempDir()
	s := startServe(t, "--sandbox", "--sandbox-ports", "random", "--listen", "127.0.0.1:0", "--data-dir", data)
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
			"--sex", p.Sex, "--status", "validee", "--data-dir", data); code != 0 {
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
