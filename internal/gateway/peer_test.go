package gateway

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/outbox"
	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/message"
	"github.com/mssante/mssante/trust"
	"github.com/mssante/mssante/xdm"
)

const (
	appli = "appli@test.mssante.fr" // the gateway's applicative mailbox (ECO.1.3.1)
	other = "autre@test.mssante.fr" // a second applicative mailbox (scoping of API keys)
	bob   = "bob@test.mssante.fr"   // a professional
	orgID = "499700000000001"
)

// peer is a Dovecot + Postfix stack with the gateway's applicative mailboxes and bob.
type peer struct {
	st   *peertest.Stack
	pki  *testpki.PKI
	pol  *trust.Policy
	dir  string
	conn map[string]*AccountConnector
}

func newPeer(t *testing.T) *peer {
	t.Helper()
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	st := peertest.Start(t, peertest.Options{PKI: pki, AppUsers: []string{appli, other}})
	pol, err := trust.New(trust.Options{ExtraRoots: []*x509.Certificate{pki.Root.Cert},
		OrgIntermediates: []*x509.Certificate{pki.Org.Cert}})
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{st: st, pki: pki, pol: pol, dir: t.TempDir(), conn: map[string]*AccountConnector{}}
	for _, a := range []string{appli, other} {
		leaf := pki.Client(orgID, a)
		p.conn[a] = &AccountConnector{Options: mailbox.Options{Address: a, Credentials: mailbox.Credentials{Certificate: &leaf.TLS},
			SMTP: endpoint(t, st.Submission), IMAP: endpoint(t, st.IMAP), Policy: pol}, Timeout: 30 * time.Second}
	}
	return p
}

func endpoint(t *testing.T, s string) lps.Endpoint {
	ep, err := lps.ParseEndpoint(s)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// bobIMAP opens an IMAP session as bob (XOAUTH2).
func (p *peer) bobIMAP(t *testing.T) *lps.IMAPClient {
	t.Helper()
	auth := lps.Auth{Method: lps.AuthXOAUTH2, Address: bob,
		Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return p.st.Token(bob, time.Hour), nil })}
	ic, err := lps.DialIMAP(ctxT(t), endpoint(t, p.st.IMAP), auth, &lps.Options{TLS: p.pol.ClientConfig("", nil), ClassifyTLSError: trust.ClassifyHandshakeError})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ic.Close() })
	return ic
}

// folderMessages returns the Message-IDs of the messages of folder (as user, through an open session).
func folderMessages(t *testing.T, ic *lps.IMAPClient, folder string) []string {
	t.Helper()
	ctx := ctxT(t)
	if _, err := ic.Select(ctx, folder); err != nil {
		t.Fatal(err)
	}
	uids, err := ic.Search(ctx, lps.Criteria{})
	if err != nil {
		t.Fatal(err)
	}
	if len(uids) == 0 {
		return nil
	}
	sums, err := ic.Summaries(ctx, uids)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range sums {
		ids = append(ids, strings.Trim(s.MessageID, "<>"))
	}
	return ids
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// cdaFixture returns a synthetic CDA of cda/testdata with its document id made unique by tag.
func cdaFixture(t testing.TB, file, tag string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "cda", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	if tag == "" {
		return b
	}
	// The document id is the first <id> of the header (typeId, before it, has an extension too).
	s := string(b)
	i := strings.Index(s, "<id ")
	k := strings.Index(s[i:], `extension="`)
	if i < 0 || k < 0 {
		t.Fatalf("%s: no document <id extension=…>", file)
	}
	i += k + len(`extension="`)
	j := strings.IndexByte(s[i:], '"')
	return []byte(s[:i] + tag + s[i+j:])
}

// mailWithCDA composes a mail from bob to the gateway carrying doc.
func mailWithCDA(t testing.TB, to string, doc []byte, text string) []byte {
	t.Helper()
	c, err := message.Compose(&message.Draft{From: message.Address{Name: "Dr Bob", Addr: bob},
		To: []message.Address{{Addr: to}}, Text: text, CDAs: [][]byte{doc}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Data
}

// webhookSink records the webhook requests whose signature is valid; it refuses the first
// request of each event, so that every event is retried once.
type webhookSink struct {
	srv    *httptest.Server
	secret []byte
	mu     sync.Mutex
	events []map[string]any
	seen   map[string]int
	bad    int
}

func newWebhookSink(t *testing.T) *webhookSink {
	w := &webhookSink{secret: []byte("secret-de-test"), seen: map[string]int{}}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		defer w.mu.Unlock()
		if r.Header.Get(SignatureHeader) != Sign(w.secret, body) {
			w.bad++
			rw.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); err != nil {
			w.bad++
			rw.WriteHeader(http.StatusBadRequest)
			return
		}
		id, _ := ev["event_id"].(string)
		w.seen[id]++
		if w.seen[id] == 1 {
			rw.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.events = append(w.events, ev)
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhookSink) snapshot() []map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]map[string]any(nil), w.events...)
}

// api calls the gateway's handler and checks every request and answer against the OpenAPI
// document with an independent validator (pb33f/libopenapi-validator).
type api struct {
	t   *testing.T
	h   http.Handler
	val validator.Validator
}

func newAPI(t *testing.T, h http.Handler) *api {
	doc, err := libopenapi.NewDocument(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	return &api{t: t, h: h, val: v}
}

func (a *api) do(method, path, key string, body []byte, hdr ...string) (int, http.Header, []byte) {
	a.t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	resp := rec.Result()
	out, _ := io.ReadAll(resp.Body)
	if strings.HasPrefix(path, "/api/v1/") && path != "/api/v1/openapi.json" {
		vreq := httptest.NewRequest(method, path, bytes.NewReader(body))
		vreq.Header = req.Header.Clone()
		resp.Body = io.NopCloser(bytes.NewReader(out))
		var ok bool
		var errs []error
		if resp.StatusCode < 400 {
			ok, verrs := a.val.ValidateHttpRequestResponse(vreq, resp)
			for _, e := range verrs {
				errs = append(errs, fmt.Errorf("%s: %s", e.Message, e.Reason))
				for _, s := range e.SchemaValidationErrors {
					errs = append(errs, fmt.Errorf("  %s at %s", s.Reason, s.FieldPath))
				}
			}
			_ = ok
		} else {
			ok, verrs := a.val.ValidateHttpResponse(vreq, resp)
			for _, e := range verrs {
				errs = append(errs, fmt.Errorf("%s: %s", e.Message, e.Reason))
			}
			_ = ok
		}
		_ = ok
		if len(errs) > 0 {
			a.t.Errorf("%s %s → %d: does not match the OpenAPI document: %v\n%s", method, path, resp.StatusCode, errs, out)
		}
		if resp.StatusCode >= 400 {
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				a.t.Errorf("%s %s → %d with Content-Type %q, want application/problem+json", method, path, resp.StatusCode, ct)
			}
		}
	}
	return resp.StatusCode, resp.Header, out
}

// waitFor polls cond every 100 ms for at most d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func runGateway(t *testing.T, g *Gateway) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

var _ = store.SQLite

func httptestGet(t *testing.T, g *Gateway, path string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	g.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Body.String()
}

// buildMailNoINS writes by hand (mime/multipart) a mail from bob whose IHE_XDM.zip (xdm.Build)
// holds doc.
func buildMailNoINS(t *testing.T, doc []byte) []byte {
	t.Helper()
	p, err := xdm.Build([][]byte{doc}, nil)
	if err != nil {
		t.Fatalf("xdm.Build: %v", err)
	}
	var zip bytes.Buffer
	if _, err := p.WriteTo(&zip); err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	tp, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain; charset=utf-8"}})
	_, _ = tp.Write([]byte("Document sans INS.\r\n"))
	zp, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/zip"}, "Content-Transfer-Encoding": {"base64"},
		"Content-Disposition": {`attachment; filename="IHE_XDM.zip"`}})
	enc := base64.StdEncoding.EncodeToString(zip.Bytes())
	for len(enc) > 76 {
		_, _ = zp.Write([]byte(enc[:76] + "\r\n"))
		enc = enc[76:]
	}
	_, _ = zp.Write([]byte(enc + "\r\n"))
	_ = mw.Close()
	h := "From: Dr Bob <" + bob + ">\r\nTo: <" + appli + ">\r\nSubject: Document sans INS\r\nDate: Wed, 02 Dec 2026 10:00:00 +0100\r\n" +
		"Message-ID: <sans-ins-1@test.mssante.fr>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"" + mw.Boundary() + "\"\r\n\r\n"
	return append([]byte(h), body.Bytes()...)
}

// testLogger writes the gateway's log to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func outboxFilterAll() outbox.Filter { return outbox.Filter{} }

// The done folder need not pre-exist (issue 13 item 6): a session's first move to it creates it
// on Dovecot (IMAP CREATE), and a second session, finding it there (NO [ALREADYEXISTS]), moves
// into it all the same.
func TestSession_moveCreatesDoneFolder(t *testing.T) {
	p := newPeer(t)
	ctx := ctxT(t)
	raw := mailWithCDA(t, appli, cdaFixture(t, "n3-cr-biologie.xml", "done-folder-1"), "Dossier créé à la demande.")
	for i := range 2 {
		s, err := p.conn[appli].IMAP(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ms := s.(*imapSession)
		if _, err := ms.Append(ctx, "INBOX", nil, bytes.NewReader(raw), int64(len(raw))); err != nil {
			t.Fatal(err)
		}
		if _, err := ms.Select(ctx, "INBOX"); err != nil {
			t.Fatal(err)
		}
		uids, err := ms.Search(ctx, lps.Criteria{})
		if err != nil || len(uids) != 1 {
			t.Fatalf("session %d: INBOX uids %v, %v", i+1, uids, err)
		}
		if err := s.Move(ctx, "INBOX", uids, "Archivés"); err != nil {
			t.Fatalf("session %d: move to a missing folder: %v", i+1, err)
		}
		if got := folderMessages(t, ms.IMAPClient, "Archivés"); len(got) != i+1 {
			t.Errorf("session %d: Archivés holds %d messages, want %d", i+1, len(got), i+1)
		}
		if got := folderMessages(t, ms.IMAPClient, "INBOX"); len(got) != 0 {
			t.Errorf("session %d: INBOX still holds %v", i+1, got)
		}
		_ = s.Close()
	}
}
