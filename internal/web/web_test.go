package web

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mssante/mssante/internal/audit"
)

// Every mailbox and message URL is checked against the mailboxes the identity opens: another
// professional's mailbox, message, attachment, read receipt, reply and sender are refused, with
// the same 404 as a message that does not exist.
func TestAuthorization_otherMailboxRefused(t *testing.T) {
	eachHarness(t, func(t *testing.T, hs *harness) {
		uid := hs.uidOf(drDupont, "dupont-1@x")
		for _, target := range []string{
			"/app/inbox?mb=" + url.QueryEscape(drDupont),
			fmt.Sprintf("/app/mail/%s/%d?folder=INBOX", drDupont, uid),
			fmt.Sprintf("/app/mail/%s/%d/part/0?folder=INBOX", drDupont, uid),
			fmt.Sprintf("/app/compose?reply=1&account=%s&folder=INBOX&uid=%d", drDupont, uid),
		} {
			w := hs.do("martin", "GET", target, nil)
			if w.Code != 404 {
				t.Errorf("GET %s as Martin: %d, want 404", target, w.Code)
			}
			if strings.Contains(w.Body.String(), "Secret de Dupont") || strings.Contains(w.Body.String(), "Réservé à Dupont") {
				t.Errorf("GET %s as Martin shows Dupont's mail", target)
			}
		}
		token := hs.csrf("martin")
		w := hs.do("martin", "POST", fmt.Sprintf("/app/mail/%s/%d/mdn?folder=INBOX", drDupont, uid), url.Values{"csrf": {token}})
		if w.Code != 404 {
			t.Errorf("POST mdn on Dupont's mail as Martin: %d, want 404", w.Code)
		}
		w = hs.do("martin", "POST", "/app/compose", url.Values{"csrf": {token}, "from": {drDupont}, "to": {drMartin}, "text": {"x"}, "action": {"send"}})
		if w.Code != 403 || len(hs.op.sent) != 0 {
			t.Errorf("send from Dupont's mailbox as Martin: %d, %d sent; want 403 and nothing sent", w.Code, len(hs.op.sent))
		}
		// The owner reads it.
		w = hs.do("dupont", "GET", fmt.Sprintf("/app/mail/%s/%d?folder=INBOX", drDupont, uid), nil)
		if w.Code != 200 || !strings.Contains(w.Body.String(), "Réservé à Dupont") {
			t.Errorf("Dupont reading his mail: %d", w.Code)
		}
		// Martin's own list does not show it, even with every mailbox selected.
		if b := hs.do("martin", "GET", "/app/inbox", nil).Body.String(); strings.Contains(b, "Secret de Dupont") {
			t.Error("Martin's inbox lists Dupont's mail")
		}
		// The refusal is traced.
		var refused bool
		for _, e := range auditEvents(t, hs) {
			if e.Author == drMartinID && e.Account == drDupont && !e.OK {
				refused = true
			}
		}
		if !refused {
			t.Error("the refused access is not in the audit trail")
		}
	})
}

// Without a session every page leads to the login page, and a POST is refused.
func TestAuthorization_noSession(t *testing.T) {
	eachHarness(t, func(t *testing.T, hs *harness) {
		if w := hs.do("", "GET", "/app/inbox", nil); w.Code != 303 || w.Header().Get("Location") != "/" {
			t.Errorf("GET /app/inbox without a session: %d %s", w.Code, w.Header().Get("Location"))
		}
		if w := hs.do("", "POST", "/app/settings", url.Values{"mdn_policy": {"always"}}); w.Code != 401 {
			t.Errorf("POST without a session: %d, want 401", w.Code)
		}
	})
}

// A mailbox added by the professional is kept only once a login to it succeeded with their
// identity (ECO.3.2.3).
func TestAddMailbox_keptOnlyAfterLogin(t *testing.T) {
	eachHarness(t, func(t *testing.T, hs *harness) {
		token := hs.csrf("martin")
		w := hs.do("martin", "POST", "/app/mailboxes", url.Values{"csrf": {token}, "address": {drDupont}})
		if w.Code != 403 {
			t.Fatalf("adding Dupont's mailbox as Martin: %d, want 403", w.Code)
		}
		if w := hs.do("martin", "GET", "/app/inbox?mb="+url.QueryEscape(drDupont), nil); w.Code != 404 {
			t.Errorf("Dupont's mailbox after a refused add: %d, want 404", w.Code)
		}
		w = hs.do("martin", "POST", "/app/mailboxes", url.Values{"csrf": {token}, "address": {"service@hopital-a.mssante.fr"}})
		if w.Code != 303 {
			t.Fatalf("adding the service mailbox: %d %s", w.Code, w.Body.String())
		}
		b := hs.do("martin", "GET", "/app/inbox", nil).Body.String()
		if !strings.Contains(b, "Pour le service") || !strings.Contains(b, "Avis cardiologique") {
			t.Errorf("the inbox of both mailboxes (ECO.3.2.3) lacks a mail:\n%s", b)
		}
		if !strings.Contains(b, "service@hopital-a.mssante.fr") {
			t.Error("the added mailbox is not in the navigation")
		}
	})
}

// CSRF: a POST without the session's token, or with another session's, is refused.
func TestCSRF(t *testing.T) {
	eachHarness(t, func(t *testing.T, hs *harness) {
		for name, form := range map[string]url.Values{
			"none":    {"mdn_policy": {"always"}},
			"forged":  {"mdn_policy": {"always"}, "csrf": {"AAAA"}},
			"another": {"mdn_policy": {"always"}, "csrf": {hs.csrf("dupont")}},
		} {
			if w := hs.do("martin", "POST", "/app/settings", form); w.Code != 403 {
				t.Errorf("%s token: %d, want 403", name, w.Code)
			}
		}
		if p := hs.app.mdnPolicy(context.Background(), []string{drMartin}); p != "ask" {
			t.Errorf("policy changed by a refused form: %s", p)
		}
		if w := hs.do("martin", "POST", "/app/settings", url.Values{"mdn_policy": {"always"}, "csrf": {hs.csrf("martin")}}); w.Code != 303 {
			t.Errorf("with the token: %d", w.Code)
		}
		// Every form of the pages carries the token.
		for _, page := range []string{"/app/inbox", "/app/compose", "/app/mailboxes", fmt.Sprintf("/app/mail/%s/%d?folder=INBOX", drMartin, hs.uidOf(drMartin, "avis-1@x"))} {
			b := hs.do("martin", "GET", page, nil).Body.String()
			forms := regexp.MustCompile(`(?s)<form[^>]*method="post".*?</form>`).FindAllString(b, -1)
			for _, f := range forms {
				if !strings.Contains(f, `name="csrf"`) {
					t.Errorf("%s: a form without the CSRF token: %.120s", page, f)
				}
			}
		}
	})
}

// Every page has a strict CSP: default-src 'self', no inline script, no eval, no inline style.
func TestCSP_everyPage(t *testing.T) {
	eachHarness(t, func(t *testing.T, hs *harness) {
		uid := hs.uidOf(drMartin, "html-1@labo.mssante.fr")
		for _, page := range []string{"/app/inbox", "/app/compose", "/app/patients", "/app/mailboxes", "/app/directory",
			fmt.Sprintf("/app/mail/%s/%d?folder=INBOX", drMartin, uid), "/app/patient/" + bioINS} {
			w := hs.do("martin", "GET", page, nil)
			if w.Code != 200 {
				t.Errorf("%s: %d", page, w.Code)
				continue
			}
			csp := w.Header().Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'self'", "base-uri 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("%s: CSP %q lacks %q", page, csp, want)
				}
			}
			if strings.Contains(csp, "unsafe") {
				t.Errorf("%s: CSP %q allows unsafe sources", page, csp)
			}
			b := w.Body.String()
			if regexp.MustCompile(`<script(?:\s+type="module")?>`).MatchString(b) || regexp.MustCompile(`\son[a-z]+=`).MatchString(b) {
				t.Errorf("%s: inline script or event handler in the page", page)
			}
			if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("%s: missing nosniff / no-store", page)
			}
		}
	})
}

// ECO.3.1.1, ECO.3.1.2, ECO.3.1.3: the list tells patients from professionals with an icon and a
// word, shows the patient's birth name, first name and INS, the display subject without the XDM
// prefix, and document badges.
func TestInbox_senderKindPatientAndSubject(t *testing.T) {
	eachHarness(t, func(t *testing.T, hs *harness) {
		b := hs.do("martin", "GET", "/app/inbox", nil).Body.String()
		for _, want := range []string{
			`kind-patient`, `>Patient</span>`, `<strong>PETIT</strong> Clara`, `INS ` + patientINS, // ECO.3.1.1, ECO.3.1.2
			`kind-professional`, `Professionnel`,
			`examens biologiques`, // document badge (type)
		} {
			if !strings.Contains(b, want) {
				t.Errorf("inbox lacks %q", want)
			}
		}
		if strings.Contains(b, "XDM/1.0/DDM") { // ECO.3.1.3
			t.Error("the XDM prefix is shown")
		}
		if !strings.Contains(b, "/app/patient/"+bioINS) {
			t.Error("no link from the document badge to the patient view")
		}
		// The unread count of INBOX (ECO.3.2.3): 4 of 5 are unread.
		if !regexp.MustCompile(`<span class="count">4<span class="vh"> non lus</span>`).MatchString(b) {
			t.Errorf("unread count missing")
		}
	})
}

// ECO.3.2.2, ECO.3.2.1: sorts and conversations.
func TestInbox_sortsAndThreads(t *testing.T) {
	eachHarness(t, func(t *testing.T, hs *harness) {
		order := func(target string) []string {
			b := hs.do("martin", "GET", target, nil).Body.String()
			var out []string
			for _, m := range regexp.MustCompile(`<span class="msg-subject">(?:<span class="vh">Non lu : </span>)?([^<]*)`).FindAllStringSubmatch(b, -1) {
				out = append(out, strings.TrimSpace(html.UnescapeString(m[1])))
			}
			return out
		}
		bySubject := order("/app/inbox?sort=subject")
		if len(bySubject) != 5 || bySubject[0] != "Avis cardiologique" {
			t.Errorf("by subject: %q", bySubject)
		}
		rev := order("/app/inbox?sort=subject&rev=1")
		if len(rev) != 5 || rev[4] != "Avis cardiologique" {
			t.Errorf("by subject reversed: %q", rev)
		}
		b := hs.do("martin", "GET", "/app/inbox?thread=1", nil).Body.String()
		if !regexp.MustCompile(`class="msg[^"]* reply"`).MatchString(b) || !strings.Contains(b, "(2 messages)") {
			t.Errorf("thread view does not group the reply with its parent")
		}
		if w := hs.do("martin", "GET", "/app/inbox?q=cardiologique", nil); !strings.Contains(w.Body.String(), "Avis cardiologique") || strings.Contains(w.Body.String(), "Rendez-vous") {
			t.Errorf("search: %s", w.Body.String())
		}
	})
}

// The patient view gathers the documents of one INS across the mailboxes.
func TestPatientView(t *testing.T) {
	eachHarness(t, func(t *testing.T, hs *harness) {
		b := hs.do("martin", "GET", "/app/patient/"+bioINS, nil).Body.String()
		if !strings.Contains(b, "Documents (1)") || !strings.Contains(b, "examens biologiques") {
			t.Errorf("patient view:\n%s", b)
		}
		if w := hs.do("dupont", "GET", "/app/patient/"+bioINS, nil); strings.Contains(w.Body.String(), "examens biologiques") {
			t.Error("Dupont sees a document of Martin's mailbox in the patient view")
		}
	})
}

// An HTML mail is sanitised and framed: no script, no event handler, no javascript: link, no
// form, remote images removed until asked; the frame is sandboxed without scripts.
func TestRead_HTMLNeutralised(t *testing.T) {
	eachHarness(t, func(t *testing.T, hs *harness) {
		uid := hs.uidOf(drMartin, "html-1@labo.mssante.fr")
		w := hs.do("martin", "GET", fmt.Sprintf("/app/mail/%s/%d?folder=INBOX", drMartin, uid), nil)
		b := w.Body.String()
		m := regexp.MustCompile(`<iframe class="html-body"[^>]*sandbox="([^"]*)"[^>]*srcdoc="([^"]*)"`).FindStringSubmatch(b)
		if m == nil {
			t.Fatalf("no sandboxed srcdoc iframe:\n%s", b)
		}
		if strings.Contains(m[1], "allow-scripts") || strings.Contains(m[1], "allow-same-origin") {
			t.Errorf("sandbox %q allows scripts or the app's origin", m[1])
		}
		doc := html.UnescapeString(m[2])
		for _, bad := range []string{"<script", "onerror", "javascript:", "<form", "tracker.example"} {
			if strings.Contains(strings.ToLower(doc), bad) {
				t.Errorf("srcdoc keeps %q:\n%s", bad, doc)
			}
		}
		if !strings.Contains(doc, "default-src 'none'") || !strings.Contains(doc, "<b>Docteur</b>") {
			t.Errorf("srcdoc lacks its CSP or the content:\n%s", doc)
		}
		if !strings.Contains(b, "Afficher le contenu distant") {
			t.Error("no 'afficher le contenu distant'")
		}
		w = hs.do("martin", "GET", fmt.Sprintf("/app/mail/%s/%d?folder=INBOX&remote=1", drMartin, uid), nil)
		m = regexp.MustCompile(`srcdoc="([^"]*)"`).FindStringSubmatch(w.Body.String())
		if doc := html.UnescapeString(m[1]); !strings.Contains(doc, "https://tracker.example/pixel.png") || strings.Contains(doc, "onerror") {
			t.Errorf("remote content asked: %s", doc)
		}
		if !strings.Contains(w.Header().Get("Content-Security-Policy"), "img-src 'self' data: https:") {
			t.Errorf("remote page CSP: %s", w.Header().Get("Content-Security-Policy"))
		}
	})
}

// ECO.3.1.6: the read receipt asked is sent when the content is displayed if the setting says
// so, offered otherwise, and sent once.
func TestRead_MDNPolicy(t *testing.T) {
	eachHarness(t, func(t *testing.T, hs *harness) {
		// The CDA mail asks for a read receipt (Disposition-Notification-To).
		uid := uidWithSubject(t, hs, "biologiques")
		page := fmt.Sprintf("/app/mail/%s/%d?folder=INBOX", drMartin, uid)
		b := hs.do("martin", "GET", page, nil).Body.String()
		if !strings.Contains(b, "Envoyer l'accusé de lecture") || len(hs.op.mdns) != 0 {
			t.Fatalf("policy ask: button %v, %d sent", strings.Contains(b, "Envoyer l'accusé"), len(hs.op.mdns))
		}
		token := hs.csrf("martin")
		if w := hs.do("martin", "POST", fmt.Sprintf("/app/mail/%s/%d/mdn?folder=INBOX", drMartin, uid), url.Values{"csrf": {token}, "answer": {"send"}}); w.Code != 303 {
			t.Fatalf("POST mdn: %d", w.Code)
		}
		if len(hs.op.mdns) != 1 {
			t.Fatalf("mdns %v", hs.op.mdns)
		}
		hs.do("martin", "POST", "/app/settings", url.Values{"mdn_policy": {"always"}, "csrf": {token}})
		hs.do("martin", "GET", page, nil)
		if len(hs.op.mdns) != 2 {
			t.Errorf("policy auto: %d read receipts, want 2", len(hs.op.mdns))
		}
		hs.do("martin", "POST", "/app/settings", url.Values{"mdn_policy": {"never"}, "csrf": {token}})
		if b := hs.do("martin", "GET", page, nil).Body.String(); strings.Contains(b, "Envoyer l'accusé de lecture") || len(hs.op.mdns) != 2 {
			t.Errorf("policy never: offered or sent")
		}
	})
}

// The CDA of a received mail is shown with its header (patient, INS) and narrative.
func TestRead_CDADocument(t *testing.T) {
	eachHarness(t, func(t *testing.T, hs *harness) {
		uid := uidWithSubject(t, hs, "biologiques")
		b := hs.do("martin", "GET", fmt.Sprintf("/app/mail/%s/%d?folder=INBOX", drMartin, uid), nil).Body.String()
		for _, want := range []string{"Documents (1)", "INS " + bioINS, `class="narrative"`, "Ouvrir le PDF"} {
			if !strings.Contains(b, want) {
				t.Errorf("CDA view lacks %q", want)
			}
		}
		pdf := regexp.MustCompile(`href="(/app/mail/[^"]+/part/\d+\?folder=INBOX)"`).FindStringSubmatch(b)
		if pdf == nil {
			t.Fatal("no PDF link")
		}
		w := hs.do("martin", "GET", html.UnescapeString(pdf[1]), nil)
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/pdf" || !strings.HasPrefix(w.Body.String(), "%PDF-") {
			t.Errorf("PDF: %d %s %.10q", w.Code, w.Header().Get("Content-Type"), w.Body.String())
		}
		if !strings.Contains(w.Header().Get("Content-Disposition"), "inline") {
			t.Errorf("PDF not inline: %s", w.Header().Get("Content-Disposition"))
		}
	})
}

// Sending: recipients, FIN only with a patient recipient, the 25 MB Mon espace santé limit.
func TestCompose_rules(t *testing.T) {
	eachHarness(t, func(t *testing.T, hs *harness) {
		token := hs.csrf("martin")
		base := url.Values{"csrf": {token}, "from": {drMartin}, "subject": {"Essai"}, "text": {"Bonjour."}, "action": {"send"}}
		with := func(kv ...string) url.Values {
			v := url.Values{}
			for k, x := range base {
				v[k] = x
			}
			for i := 0; i < len(kv); i += 2 {
				v.Set(kv[i], kv[i+1])
			}
			return v
		}
		if w := hs.do("martin", "POST", "/app/compose", with("to", drDupont, "fin", "1")); w.Code != 400 || !strings.Contains(w.Body.String(), "ne s&#39;applique qu&#39;à un message adressé à un patient") {
			t.Errorf("FIN without a patient: %d", w.Code)
		}
		if w := hs.do("martin", "POST", "/app/compose", with("to", "")); w.Code != 400 {
			t.Errorf("no recipient: %d", w.Code)
		}
		if w := hs.do("martin", "POST", "/app/compose", with("to", drDupont, "dsn", "1", "mdn", "1")); w.Code != 303 {
			t.Fatalf("send: %d %s", w.Code, w.Body.String())
		}
		if len(hs.op.sent) != 1 || hs.op.sent[0].To[0] != drDupont || !hs.op.sent[0].DSN || !hs.op.sent[0].MDN {
			t.Errorf("sent %+v", hs.op.sent)
		}
		if w := hs.do("martin", "POST", "/app/compose", with("to", patientINS+"@patient.mssante.fr", "fin", "1")); w.Code != 303 {
			t.Errorf("FIN to a patient: %d", w.Code)
		}
		if len(hs.op.sent) != 2 || !hs.op.sent[1].MESFin {
			t.Errorf("FIN not passed")
		}
		var sendTraced bool
		for _, e := range auditEvents(t, hs) {
			if e.Action == audit.ActionSend && e.Author == drMartinID && e.OK {
				sendTraced = true
			}
		}
		if !sendTraced {
			t.Error("send not in the audit trail")
		}
	})
}

// A reply keeps its parent (threading headers and attachments come from it in the mailbox
// layer).
func TestCompose_replyKeepsParent(t *testing.T) {
	eachHarness(t, func(t *testing.T, hs *harness) {
		uid := hs.uidOf(drMartin, "avis-1@x")
		// The form is reached by the read page's links (they once lost the account in the query).
		page := hs.do("martin", "GET", fmt.Sprintf("/app/mail/%s/%d?folder=INBOX", url.PathEscape(drMartin), uid), nil).Body.String()
		link := func(id string) string {
			m := regexp.MustCompile(`href="([^"]+)" id="` + id + `"`).FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("read page has no #%s link", id)
			}
			return html.UnescapeString(m[1])
		}
		if w := hs.do("martin", "GET", link("reply"), nil); w.Code != 200 || !strings.Contains(w.Body.String(), `name="parent_uid"`) {
			t.Errorf("reply link: %d", w.Code)
		}
		if w := hs.do("martin", "GET", link("forward"), nil); w.Code != 200 || !strings.Contains(w.Body.String(), `name="forward" value="1"`) {
			t.Errorf("forward link: %d", w.Code)
		}
		b := hs.do("martin", "GET", link("reply-all"), nil).Body.String()
		for _, want := range []string{`name="parent_uid" value="` + fmt.Sprint(uid) + `"`, `value="Re : Avis cardiologique"`, `value="` + drDupont + `"`} {
			if !strings.Contains(b, want) {
				t.Errorf("reply form lacks %s", want)
			}
		}
		token := hs.csrf("martin")
		w := hs.do("martin", "POST", "/app/compose", url.Values{"csrf": {token}, "from": {drMartin}, "to": {drDupont}, "subject": {"Re : Avis"},
			"text": {"Merci"}, "action": {"send"}, "parent_account": {drMartin}, "parent_folder": {"INBOX"}, "parent_uid": {fmt.Sprint(uid)}})
		if w.Code != 303 {
			t.Fatalf("reply: %d %s", w.Code, w.Body.String())
		}
		p := hs.op.sent[0].Parent
		if p == nil || p.UID != uid || !strings.Contains(string(p.Raw), "Message-ID: <avis-1@x>") {
			t.Errorf("parent %+v", p)
		}
	})
}

func uidWithSubject(t *testing.T, hs *harness, sub string) uint32 {
	t.Helper()
	msgs, err := hs.ms.Search(context.Background(), sub, 10, drMartin)
	if err != nil || len(msgs) == 0 {
		t.Fatalf("search %q: %v %d", sub, err, len(msgs))
	}
	return msgs[0].UID
}

func auditEvents(t *testing.T, hs *harness) []audit.Event {
	t.Helper()
	var sb strings.Builder
	if _, err := hs.trail.Export(context.Background(), &sb, t0.Add(-24*365*3600*1e9)); err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	for _, line := range strings.Split(strings.TrimSpace(sb.String()), "\n") {
		var e audit.Event
		if err := jsonUnmarshal(line, &e); err == nil {
			out = append(out, e)
		}
	}
	return out
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
