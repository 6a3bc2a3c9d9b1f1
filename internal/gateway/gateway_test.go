package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
	"github.com/mssante/mssante/message"
)

// Issue 13 items 1, 2, 5, 6 against Dovecot + Postfix, on both dialects: a CDA POSTed to the
// API reaches the recipient as a compliant MSSanté mail (ECO.2.1.1 XDM + PDF/A, ECO.2.1.3
// subject, ECO.2.2.5 applicative mailbox, ECO.1.3.1 certificate authentication); the same
// Idempotency-Key sends nothing more; documents received by the gateway's mailbox are listed
// with their patient, delivered to the inbox folder, announced by signed webhooks, and the mail
// moved to the done folder only after; an unidentified patient is kept and flagged.
func TestGateway_sendAndReceive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := newPeer(t)
		inbox := filepath.Join(p.dir, "inbox")
		hl7Dir := filepath.Join(p.dir, "hl7")
		hook := newWebhookSink(t)
		g, err := New(db, Options{
			Mailboxes:  []Mailbox{{Address: appli, Label: "Laboratoire Test", Conn: p.conn[appli]}, {Address: other, Conn: p.conn[other]}},
			DoneFolder: "Traités", InboxDir: inbox, Poll: 100 * time.Millisecond, Lease: 6 * time.Second,
			Reidle: 2 * time.Second, MaxBackoff: 500 * time.Millisecond,
			Webhook: &Webhook{URL: hook.srv.URL, Secret: hook.secret},
			Compose: ComposeOptions{AppContact: "secretariat@test.mssante.fr"}, Logger: testLogger(t),
			Deliveries: []Delivery{&HL7Delivery{Dir: hl7Dir}},
		})
		if err != nil {
			t.Fatal(err)
		}
		runGateway(t, g)
		a := newAPI(t, g.Handler())
		ctx := ctxT(t)
		key, err := g.CreateKey(ctx, appli)
		if err != nil {
			t.Fatal(err)
		}
		otherKey, err := g.CreateKey(ctx, other)
		if err != nil {
			t.Fatal(err)
		}

		// Access: no key 401, a wrong key 401, a key of another mailbox 403.
		if code, _, _ := a.do("GET", "/api/v1/documents", "", nil); code != http.StatusUnauthorized {
			t.Errorf("no key: %d", code)
		}
		if code, _, _ := a.do("GET", "/api/v1/documents", "mssgw_faux", nil); code != http.StatusUnauthorized {
			t.Errorf("unknown key: %d", code)
		}
		if code, _, body := a.do("GET", "/api/v1/documents?mailbox="+appli, otherKey, nil); code != http.StatusForbidden {
			t.Errorf("key of another mailbox: %d %s", code, body)
		}

		// Send a CDA through the API.
		doc := cdaFixture(t, "n3-cr-biologie.xml", "GW-API-1")
		scan := append([]byte("analyse;valeur\nglycémie;5,2\n"), 0x00, 0xff, 0x10, 0x80)
		req, _ := json.Marshal(map[string]any{"to": []string{bob}, "body": "Compte rendu ci-joint.",
			"documents": []map[string]string{{"cda": base64.StdEncoding.EncodeToString(doc)}}, "dsn": true,
			"attachments": []map[string]string{{"name": "résultats.csv", "content_type": "text/csv", "data": base64.StdEncoding.EncodeToString(scan)}}})
		code, hdr, body := a.do("POST", "/api/v1/messages", key, req, "Idempotency-Key", "k-1")
		if code != http.StatusAccepted {
			t.Fatalf("POST: %d %s", code, body)
		}
		var sent Sent
		if err := json.Unmarshal(body, &sent); err != nil || sent.ID == 0 || sent.MessageID == "" {
			t.Fatalf("POST answer %s (%v)", body, err)
		}
		if hdr.Get("Idempotent-Replayed") != "" {
			t.Error("first POST marked as replayed")
		}
		// The same key and body: the same answer, nothing queued.
		code, hdr, body2 := a.do("POST", "/api/v1/messages", key, req, "Idempotency-Key", "k-1")
		var again Sent
		_ = json.Unmarshal(body2, &again)
		if code != http.StatusAccepted || again.ID != sent.ID || again.MessageID != sent.MessageID || hdr.Get("Idempotent-Replayed") != "true" {
			t.Errorf("second POST: %d %s, first %s", code, body2, body)
		}
		// The same key, another body: 422 with a French detail.
		req3, _ := json.Marshal(map[string]any{"to": []string{bob}, "body": "Autre texte."})
		code, _, body3 := a.do("POST", "/api/v1/messages", key, req3, "Idempotency-Key", "k-1")
		var pb Problem
		_ = json.Unmarshal(body3, &pb)
		if code != http.StatusUnprocessableEntity || !strings.Contains(pb.Detail, "clé") {
			t.Errorf("same key, other body: %d %s", code, body3)
		}
		// A malformed request: 422 with the reason.
		code, _, body4 := a.do("POST", "/api/v1/messages", key, []byte(`{"to":[]}`))
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(body4), "destinataire") {
			t.Errorf("no recipient: %d %s", code, body4)
		}

		// bob receives one compliant MSSanté mail under that Message-ID.
		bic := p.bobIMAP(t)
		var ids []string
		waitFor(t, 60*time.Second, "the mail in bob's INBOX", func() bool {
			ids = folderMessages(t, bic, "INBOX")
			return len(ids) > 0
		})
		time.Sleep(500 * time.Millisecond)
		ids = folderMessages(t, bic, "INBOX")
		if len(ids) != 1 || ids[0] != sent.MessageID {
			t.Fatalf("bob's INBOX = %v, want [%s]", ids, sent.MessageID)
		}
		var raw strings.Builder
		if _, err := bic.FetchBody(ctx, 1, &raw); err != nil {
			t.Fatal(err)
		}
		m, err := message.Parse([]byte(raw.String()), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Documents) != 1 || m.Documents[0].INS != "162036912304592" || len(m.PDFs) != 1 ||
			!strings.HasPrefix(m.Subject, "XDM/1.0/DDM") || m.Headers["X-MSS-NIL"] == "" || !m.DSNRequested {
			t.Errorf("received mail: subject %q, documents %+v, pdfs %v, headers %v, dsn %v", m.Subject, m.Documents, m.PDFs, m.Headers, m.DSNRequested)
		}
		// The plain attachment reaches bob byte for byte, under its name and type.
		var att *message.Attachment
		for i := range m.Attachments {
			if m.Attachments[i].Name == "résultats.csv" {
				att = &m.Attachments[i]
			}
		}
		if att == nil || !bytes.Equal(att.Data, scan) || !strings.HasPrefix(att.ContentType, "text/csv") {
			t.Errorf("attachment at bob: %+v among %d attachments, want résultats.csv byte for byte", att, len(m.Attachments))
		}
		if !strings.Contains(m.Text, "secretariat@test.mssante.fr") {
			t.Errorf("no closing notice of the applicative mailbox (ECO.2.2.5) in %q", m.Text)
		}

		// GET /messages/{id}: sent (or further), with its timeline.
		waitFor(t, 30*time.Second, "state sent", func() bool {
			_, _, b := a.do("GET", fmt.Sprintf("/api/v1/messages/%d", sent.ID), key, nil)
			var v messageView
			_ = json.Unmarshal(b, &v)
			return v.State == "sent" || v.State == "delivered"
		})
		_, _, b := a.do("GET", fmt.Sprintf("/api/v1/messages/%d", sent.ID), key, nil)
		var mv messageView
		_ = json.Unmarshal(b, &mv)
		if len(mv.Timeline) < 3 || mv.Timeline[0].State != "queued" {
			t.Errorf("timeline = %+v", mv.Timeline)
		}
		if code, _, _ := a.do("GET", fmt.Sprintf("/api/v1/messages/%d", sent.ID), otherKey, nil); code != http.StatusNotFound {
			t.Errorf("message of another mailbox: %d", code)
		}

		// Inbound: a document for a known INS, and one without INS (kept, flagged).
		p.st.Deliver(appli, "INBOX", mailWithCDA(t, appli, cdaFixture(t, "n3-cr-imagerie.xml", "GW-IN-1"), "Imagerie."))
		p.st.Deliver(appli, "INBOX", noINSMail(t))
		var docs []Document
		waitFor(t, 60*time.Second, "two received documents", func() bool {
			_, _, b := a.do("GET", "/api/v1/documents", key, nil)
			var l struct{ Documents []Document }
			_ = json.Unmarshal(b, &l)
			docs = l.Documents
			return len(docs) >= 2
		})
		if len(docs) != 2 {
			t.Fatalf("documents = %+v", docs)
		}
		var known, unknown Document
		for _, d := range docs {
			if d.Identified {
				known = d
			} else {
				unknown = d
			}
		}
		if known.Patient.INS == "" || known.DocumentID == "" || known.TypeCode == "" || known.From != bob || known.SenderKind != "professional" ||
			known.Patient.BirthName == "" || known.Patient.BirthDate == "" {
			t.Errorf("known document = %+v", known)
		}
		if !strings.HasSuffix(known.DocumentID, "^GW-IN-1") {
			t.Errorf("known document id %q, want the CDA's <id> (…^GW-IN-1)", known.DocumentID)
		}
		if unknown.ID == 0 || unknown.Identified {
			t.Errorf("unidentified document = %+v", unknown)
		}
		// The HL7 output, read by python-hl7: one MDM^T02 per document, the known patient's in
		// PID-3, the CDA id in TXA-12, the CDA itself in OBX 1 (ED), the mail body in OBX 2.
		var mdm []pyMDM
		waitFor(t, 60*time.Second, "two MDM files", func() bool {
			files, _ := filepath.Glob(filepath.Join(hl7Dir, "*.hl7"))
			return len(files) >= 2
		})
		mdm = readMDMFiles(t, hl7Dir)
		sentCDA := string(cdaFixture(t, "n3-cr-imagerie.xml", "GW-IN-1"))
		found := false
		for _, v := range mdm {
			if v.MSH9 != "MDM^T02^MDM_T02" || v.MSH12 != "2.6" || !strings.Contains(v.MSH21, "CISIS_CDA_HL7_LPS") || v.OBX1Type != "ED" {
				t.Errorf("MDM header: MSH-9 %q MSH-12 %q MSH-21 %q OBX-2 %q", v.MSH9, v.MSH12, v.MSH21, v.OBX1Type)
			}
			// document_id is root^extension; TXA-12.1 the extension.
			if _, ext, _ := strings.Cut(known.DocumentID, "^"); v.TXA12 == ext {
				found = true
				if v.PID3 != known.Patient.INS || v.CDA != sentCDA || !strings.Contains(v.Body, "Imagerie.") {
					t.Errorf("MDM of %s: PID-3 %q (want %q), CDA equal %v, body %q", known.DocumentID, v.PID3, known.Patient.INS, v.CDA == sentCDA, v.Body)
				}
			}
		}
		if len(mdm) != 2 || !found {
			t.Errorf("%d MDM files, %s among them: %v", len(mdm), known.DocumentID, found)
		}
		// Filters.
		_, _, b = a.do("GET", "/api/v1/documents?patient_ins="+known.Patient.INS, key, nil)
		if strings.Count(string(b), `"document_id"`) != 1 {
			t.Errorf("patient_ins filter: %s", b)
		}
		_, _, b = a.do("GET", "/api/v1/documents?since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339), key, nil)
		if strings.Count(string(b), `"document_id"`) != 0 {
			t.Errorf("since filter: %s", b)
		}
		_, _, b = a.do("GET", "/api/v1/documents", otherKey, nil)
		if strings.Count(string(b), `"document_id"`) != 0 {
			t.Errorf("another mailbox sees %s", b)
		}
		// Contents.
		for part, want := range map[string]string{"cda": "<ClinicalDocument", "pdf": "%PDF-", "message": "Message-ID:"} {
			code, hdr, b := a.do("GET", fmt.Sprintf("/api/v1/documents/%d/%s", known.ID, part), key, nil)
			if code != 200 || !strings.Contains(string(b), want) {
				t.Errorf("GET %s: %d %s %.80q", part, code, hdr.Get("Content-Type"), b)
			}
		}
		if code, _, _ := a.do("GET", fmt.Sprintf("/api/v1/documents/%d/cda", known.ID), otherKey, nil); code != http.StatusNotFound {
			t.Errorf("document of another mailbox: %d", code)
		}
		// Acks.
		code, _, b = a.do("POST", fmt.Sprintf("/api/v1/documents/%d/ack", known.ID), key, []byte(`{"state":"integrated"}`))
		if code != 200 || !strings.Contains(string(b), `"integrated"`) {
			t.Errorf("ack: %d %s", code, b)
		}
		if code, _, _ := a.do("POST", fmt.Sprintf("/api/v1/documents/%d/ack", known.ID), key, []byte(`{"state":"rejected","reason":"x"}`)); code != http.StatusConflict {
			t.Errorf("second ack: %d", code)
		}
		if code, _, _ := a.do("POST", fmt.Sprintf("/api/v1/documents/%d/ack", unknown.ID), key, []byte(`{"state":"rejected"}`)); code != http.StatusUnprocessableEntity {
			t.Errorf("rejection without reason: %d", code)
		}
		code, _, b = a.do("POST", fmt.Sprintf("/api/v1/documents/%d/ack", unknown.ID), key, []byte(`{"state":"rejected","reason":"patient inconnu"}`))
		if code != 200 {
			t.Errorf("reject: %d %s", code, b)
		}

		// Inbox folder: <INS>/<date>_<type>_<id>.{xml,pdf,json}, unidentified under _inconnu/.
		fd := &FolderDelivery{Dir: inbox}
		waitFor(t, 30*time.Second, "the inbox folder", func() bool {
			_, e1 := os.Stat(fd.Path(&known) + ".json")
			_, e2 := os.Stat(fd.Path(&unknown) + ".json")
			return e1 == nil && e2 == nil
		})
		for _, ext := range []string{".xml", ".pdf"} {
			if _, err := os.Stat(fd.Path(&known) + ext); err != nil {
				t.Error(err)
			}
		}
		if !strings.Contains(fd.Path(&known), filepath.Join(inbox, known.Patient.INS)) || !strings.Contains(fd.Path(&unknown), "_inconnu") {
			t.Errorf("paths %s, %s", fd.Path(&known), fd.Path(&unknown))
		}

		// The received mails left INBOX for Traités, after their documents were committed.
		aic, err := p.conn[appli].IMAP(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer aic.Close()
		ic := aic.(*imapSession).IMAPClient
		// (Traités also receives the DSN of the mail sent above, once it is applied to the outbox.)
		var inINBOX, done []string
		waitFor(t, 30*time.Second, "the mails moved to Traités", func() bool {
			inINBOX, done = folderMessages(t, ic, "INBOX"), folderMessages(t, ic, "Traités")
			return len(inINBOX) == 0 && slices.Contains(done, known.MessageID) && slices.Contains(done, unknown.MessageID)
		})

		// Webhooks: one event per received document and per outbox state, signed, each retried
		// once (the sink refuses the first try) and delivered in order per mailbox.
		waitFor(t, 60*time.Second, "webhook events", func() bool {
			n := 0
			for _, ev := range hook.snapshot() {
				if ev["type"] == "document.received" {
					n++
				}
			}
			return n == 2
		})
		evs := hook.snapshot()
		types := map[string]int{}
		ids2 := map[string]bool{}
		for _, ev := range evs {
			types[fmt.Sprint(ev["type"])]++
			id := fmt.Sprint(ev["event_id"])
			if ids2[id] {
				t.Errorf("event %s accepted twice", id)
			}
			ids2[id] = true
		}
		if types["message.state"] < 2 || hook.bad != 0 {
			t.Errorf("events %v (bad signatures %d): %v", types, hook.bad, evs)
		}

		// Metrics.
		rec := httptestGet(t, g, "/metrics")
		for _, want := range []string{"mssante_gateway_sends_total", "mssante_gateway_outbox_depth", "mssante_gateway_last_sync_timestamp_seconds",
			"mssante_gateway_send_seconds", "mssante_gateway_documents_received_total"} {
			if !strings.Contains(rec, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		if r := httptestGet(t, g, "/healthz"); !strings.Contains(r, "ok") {
			t.Errorf("healthz %s", r)
		}
		if r := httptestGet(t, g, "/readyz"); !strings.Contains(r, "ready") {
			t.Errorf("readyz %s", r)
		}
	}, Migrations()...)
}

// noINSMail is a mail whose XDM carries a CDA without INS (cda/testdata/n3-sans-ins.xml): it
// cannot be composed by message.Compose (which requires the patient's INS), so it is the
// composed mail of another CDA with the archive's document replaced.
func noINSMail(t *testing.T) []byte {
	t.Helper()
	return buildMailNoINS(t, cdaFixture(t, "n3-sans-ins.xml", ""))
}
