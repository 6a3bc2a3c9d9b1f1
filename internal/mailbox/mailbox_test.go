package mailbox_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mssante/mssante/ins"
	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/patients"
	"github.com/mssante/mssante/internal/sandbox"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/message"
	"github.com/mssante/mssante/trust"
)

// world is a sandbox (operator, PSC emulator, autoconfig, CRL/OCSP) in-process on free ports.
func world(t *testing.T, ttl time.Duration) *sandbox.World {
	t.Helper()
	any := "127.0.0.1:0"
	w, err := sandbox.Start(context.Background(), sandbox.Options{DataDir: t.TempDir(), AccessTTL: ttl,
		IMAPAddr: any, SMTPAddr: any, HTTPSAddr: any, HTTPAddr: any, PSCAddr: any})
	if err != nil {
		t.Fatalf("sandbox.Start: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func policy(t *testing.T, w *sandbox.World) *trust.Policy {
	t.Helper()
	p, err := trust.New(trust.Options{ExtraRoots: []*x509.Certificate{w.RootCertificate()},
		OrgIntermediates: []*x509.Certificate{w.OrgCertificate()}, CRLRefresh: -1})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func endpoint(t *testing.T, addr string) lps.Endpoint {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(port)
	return lps.Endpoint{Host: host, Port: n}
}

func sbAccount(t *testing.T, w *sandbox.World, kind string, skip int) sandbox.Account {
	t.Helper()
	for _, a := range w.Config.Accounts {
		if a.Kind == kind && !a.Closed {
			if skip == 0 {
				return a
			}
			skip--
		}
	}
	t.Fatalf("no %s account", kind)
	return sandbox.Account{}
}

// recorded keeps the lps events of an account.
type recorded struct {
	mu  sync.Mutex
	evs []lps.Event
}

func (r *recorded) Record(_ context.Context, ev lps.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
}

func (r *recorded) count(action, prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.evs {
		if ev.Action == action && strings.HasPrefix(ev.Request, prefix) {
			n++
		}
	}
	return n
}

// open is the account of a sandbox mailbox: a token of the emulator or the client certificate,
// servers given (explicit) or discovered (autoconfig).
func open(t *testing.T, w *sandbox.World, a sandbox.Account, discover bool, mod func(*mailbox.Options)) *mailbox.Account {
	t.Helper()
	o := mailbox.Options{Address: a.Address, Policy: policy(t, w), PatientDomain: w.Config.PatientDomain}
	if discover {
		o.AutoconfigURL = w.Env().AutoconfigURL
	} else {
		o.SMTP, o.IMAP = endpoint(t, w.Config.SMTP), endpoint(t, w.Config.IMAP)
	}
	if a.Kind == "applicative" {
		c, err := tls.LoadX509KeyPair(a.Cert, a.Key)
		if err != nil {
			t.Fatal(err)
		}
		o.Credentials.Certificate = &c
	} else {
		o.Credentials.Tokens = lps.TokenSourceFunc(func(ctx context.Context) (string, error) {
			tok, err := sandbox.FetchToken(ctx, w.DataDir, a.NationalID)
			return tok.AccessToken, err
		})
	}
	if mod != nil {
		mod(&o)
	}
	acct, err := mailbox.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = acct.Close() })
	return acct
}

// waitSubject lists box until a message whose display subject contains s shows.
func waitSubject(t *testing.T, acct *mailbox.Account, s string) mailbox.Summary {
	t.Helper()
	ctx := context.Background()
	for range 100 {
		l, err := acct.List(ctx, "INBOX", nil)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		for _, m := range l.Messages {
			if strings.Contains(m.DisplaySubject, s) {
				return m
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no message %q", s)
	return mailbox.Summary{}
}

// Send composes with message, submits; List shows the display subject and the sender kind; Read
// parses; Fetch streams the raw mail; Move, Flag, Delete act on it. Servers discovered by
// autoconfig (ECO.1.1.9). ECO.1.0.1, ECO.1.0.2, ECO.3.1.1, ECO.3.1.3.
func TestAccount_sendListReadFetch(t *testing.T) {
	w := world(t, 0)
	ctx := context.Background()
	from, to := sbAccount(t, w, "personal", 0), sbAccount(t, w, "personal", 1)
	sender := open(t, w, from, true, nil)
	res, err := sender.Send(ctx, &mailbox.Draft{Draft: message.Draft{
		From: message.Address{Name: "Dr Jeanne ESSAI", Addr: from.Address},
		To:   []message.Address{{Addr: to.Address}}, Subject: "XDM/1.0/DDM+ sans document", Text: "Bonjour."}}, nil)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res.Composed == nil || len(res.Recipients) != 1 || !strings.HasPrefix(res.TLSVersion, "TLS 1.") {
		t.Errorf("Send = %+v", res)
	}
	rcpt := open(t, w, to, false, nil)
	s := waitSubject(t, rcpt, "sans document")
	if s.SenderKind != message.Professional || s.Patient != nil || s.Date.IsZero() || s.DateFromArrival {
		t.Errorf("summary = %+v", s)
	}
	m, err := rcpt.Read(ctx, "INBOX", s.UID)
	if err != nil || !strings.Contains(m.Text, "Bonjour.") || m.From.Addr != from.Address {
		t.Fatalf("Read = %+v, %v", m, err)
	}
	var raw bytes.Buffer
	if n, err := rcpt.Fetch(ctx, "INBOX", s.UID, &raw); err != nil || n != int64(raw.Len()) || !bytes.Contains(raw.Bytes(), []byte("Message-ID:")) {
		t.Fatalf("Fetch = %d, %v", n, err)
	}
	if err := rcpt.Flag(ctx, "INBOX", []uint32{s.UID}, lps.FlagsAdd, lps.FlagSeen); err != nil {
		t.Fatal(err)
	}
	l, err := rcpt.List(ctx, "INBOX", nil)
	if err != nil || !slices.ContainsFunc(l.Messages, func(x mailbox.Summary) bool { return x.UID == s.UID && slices.Contains(x.Flags, lps.FlagSeen) }) {
		t.Errorf("flag not listed: %+v %v", l, err)
	}
	boxes, err := rcpt.Mailboxes(ctx)
	if err != nil || len(boxes) == 0 {
		t.Fatalf("Mailboxes = %v, %v", boxes, err)
	}
	if err := rcpt.Delete(ctx, "INBOX", []uint32{s.UID}); err != nil {
		t.Fatal(err)
	}
	l, _ = rcpt.List(ctx, "INBOX", nil)
	if slices.ContainsFunc(l.Messages, func(x mailbox.Summary) bool { return x.UID == s.UID }) {
		t.Error("deleted message still listed")
	}
}

// Several composed files go over one SMTP session; a Bcc recipient gets the mail without the Bcc
// field; a mail composed with DSN asks for the DSN parameters (issue 11: send honours compose
// --dsn); List says when Limit cut the list.
func TestAccount_sendRawOneSession(t *testing.T) {
	w := world(t, 0)
	ctx := context.Background()
	from, to, bcc := sbAccount(t, w, "personal", 0), sbAccount(t, w, "personal", 1), sbAccount(t, w, "applicative", 0)
	rec := &recorded{}
	sender := open(t, w, from, false, func(o *mailbox.Options) { o.Recorder = rec })
	for i, dsn := range []bool{false, true, false} {
		c, err := message.Compose(&message.Draft{From: message.Address{Name: "Dr Jeanne ESSAI", Addr: from.Address},
			To: []message.Address{{Addr: to.Address}}, Subject: "lot " + strconv.Itoa(i), Text: "x", DSN: dsn}, nil)
		if err != nil {
			t.Fatal(err)
		}
		raw := bytes.Replace(c.Data, []byte("\r\nSubject:"), []byte("\r\nBcc: <"+bcc.Address+">\r\nSubject:"), 1)
		res, err := sender.SendRaw(ctx, raw, nil)
		if err != nil {
			t.Fatalf("SendRaw %d: %v", i, err)
		}
		if res.DSNAsked != dsn || len(res.Recipients) != 2 {
			t.Errorf("SendRaw %d = %+v", i, res)
		}
	}
	if n := rec.count(lps.ActionConnect, ""); n != 1 {
		t.Errorf("%d SMTP connections for 3 files, want 1", n)
	}
	if n := rec.count(lps.ActionSend, "MAIL FROM"); n < 3 {
		t.Errorf("%d MAIL FROM, want 3", n)
	}
	app := open(t, w, bcc, false, nil)
	s := waitSubject(t, app, "lot 2")
	var raw bytes.Buffer
	if _, err := app.Fetch(ctx, "INBOX", s.UID, &raw); err != nil || bytes.Contains(bytes.ToLower(raw.Bytes()), []byte("\nbcc:")) {
		t.Errorf("Bcc copy: %v, Bcc field present: %s", err, raw.Bytes())
	}
	rcpt := open(t, w, to, false, nil)
	waitSubject(t, rcpt, "lot 2")
	l, err := rcpt.List(ctx, "INBOX", &mailbox.ListOptions{Limit: 2})
	if err != nil || !l.Truncated || len(l.Messages) != 2 || l.Total < 3 || l.Messages[0].UID < l.Messages[1].UID {
		t.Errorf("List(Limit 2) = %+v, %v", l, err)
	}
	if l, _ := rcpt.List(ctx, "INBOX", &mailbox.ListOptions{Limit: 1000}); l.Truncated {
		t.Error("Truncated without a cut")
	}
	// An outbox entry keeps its envelope: the Bcc recipient, no longer in the header, still gets it.
	env, err := message.EnvelopeOf([]byte("From: <" + from.Address + ">\r\nTo: <" + to.Address + ">\r\nBcc: <" + bcc.Address + ">\r\nSubject: enveloppe\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := sender.SendEnvelope(ctx, mailbox.Envelope{Recipients: env.Recipients, Data: env.Data, DSN: &lps.DSN{}}); err != nil || len(res.Recipients) != 2 || !res.DSNAsked {
		t.Fatalf("SendEnvelope = %+v, %v", res, err)
	}
	waitSubject(t, app, "enveloppe")
	if _, err := sender.SendEnvelope(ctx, mailbox.Envelope{Data: env.Data}); err == nil {
		t.Error("SendEnvelope without recipients accepted")
	}
	if _, err := sender.SendRaw(ctx, []byte("PK\x03\x04\x00\x00binary"), nil); !errors.Is(err, message.ErrBinary) {
		t.Errorf("binary file: %v, want message.ErrBinary", err)
	}
}

// knownPatients is a real patients store holding the sandbox patients (qualified), the first one
// opposed to MSSanté exchange.
func knownPatients(t *testing.T, w *sandbox.World) (*patients.Store, []patients.Patient) {
	t.Helper()
	st, err := patients.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "patients.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	// The opposed one is synthetic (test OID); the others are the sandbox's, with a mailbox.
	synth, err := ins.FromNumber("2800175123456")
	if err != nil {
		t.Fatal(err)
	}
	sps := append([]sandbox.Patient{{BirthName: "OPPOSEE", GivenNames: "Alice", BirthDate: "1980-01-15", Sex: "F",
		INS: synth.String(), OID: "1.2.250.1.213.1.4.10"}}, w.Config.Patients...)
	var out []patients.Patient
	for _, sp := range sps {
		if sp.INS == "" || sp.Closed {
			continue
		}
		m, err := ins.Parse(sp.INS)
		if err != nil {
			t.Fatal(err)
		}
		born, _ := patients.ParseBirthDate(sp.BirthDate)
		sex, _ := patients.ParseSex(sp.Sex)
		first, _, _ := strings.Cut(sp.GivenNames, " ")
		p, err := st.Add(context.Background(), patients.Patient{Status: patients.StatusQualified, Opposition: len(out) == 0,
			Identity: ins.Identity{INS: ins.INS{Matricule: m, OID: ins.OID(sp.OID)}, BirthName: sp.BirthName,
				FirstName: first, GivenNames: sp.GivenNames, BirthDate: born, Sex: sex}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	if len(out) < 2 {
		t.Fatalf("%d qualified sandbox patients, want 2", len(out))
	}
	return st, out
}

// ECO.2.2.6, ECO.3.1.5: a known qualified patient is written to at <matricule>@<domain>; an opposed
// patient is refused, by id or by typed address, in a Draft or in a composed file, with a French
// reason, derogation or not.
func TestAccount_patientRecipients(t *testing.T) {
	w := world(t, 0)
	ctx := context.Background()
	st, known := knownPatients(t, w)
	from := sbAccount(t, w, "personal", 0)
	sender := open(t, w, from, false, func(o *mailbox.Options) { o.Patients = st })
	label := message.Address{Name: "Dr Jeanne ESSAI", Addr: from.Address}
	opposed, ok := known[0], known[1]

	res, err := sender.Send(ctx, &mailbox.Draft{Draft: message.Draft{From: label, Subject: "Résultats", Text: "x"},
		ToPatients: []int64{ok.ID}}, nil)
	want, _ := ok.Identity.PatientAddress(w.Config.PatientDomain)
	if err != nil || len(res.Recipients) != 1 || res.Recipients[0] != want {
		t.Fatalf("Send to a qualified patient = %+v, %v (want %s)", res, err, want)
	}
	oppAddr := opposed.Identity.INS.Matricule.String() + "@" + w.Config.PatientDomain
	for name, send := range map[string]func() error{
		"by id": func() error {
			_, err := sender.Send(ctx, &mailbox.Draft{Draft: message.Draft{From: label, Subject: "s", Text: "x", Derogation: true},
				ToPatients: []int64{opposed.ID}}, nil)
			return err
		},
		"typed": func() error {
			_, err := sender.Send(ctx, &mailbox.Draft{Draft: message.Draft{From: label, Subject: "s", Text: "x", Derogation: true,
				To: []message.Address{{Addr: oppAddr}}}}, nil)
			return err
		},
		"raw": func() error {
			_, err := sender.SendRaw(ctx, []byte("From: <"+from.Address+">\r\nTo: <"+oppAddr+">\r\nSubject: s\r\n\r\nx\r\n"), nil)
			return err
		},
		"envelope": func() error { // an outbox entry: the recipient only in the stored envelope (a Bcc)
			_, err := sender.SendEnvelope(ctx, mailbox.Envelope{Recipients: []string{oppAddr},
				Data: []byte("From: <" + from.Address + ">\r\nSubject: s\r\n\r\nx\r\n")})
			return err
		},
	} {
		err := send()
		var re *mailbox.RecipientError
		if !errors.As(err, &re) || !errors.Is(err, patients.ErrOpposition) || !strings.Contains(err.Error(), "opposé") {
			t.Errorf("%s: opposed patient: %v", name, err)
		}
	}
	r, err := mailbox.PatientAddress(ok, w.Config.PatientDomain, false, time.Now())
	if err != nil || r.Address != want || r.Derogation != nil {
		t.Errorf("PatientAddress(qualified) = %+v, %v", r, err)
	}
	prov := ok
	prov.Status = patients.StatusProvisional
	if _, err := mailbox.PatientAddress(prov, "", false, time.Now()); err == nil {
		t.Error("provisional identity accepted without derogation")
	}
	if r, err := mailbox.PatientAddress(prov, "", true, time.Now()); err != nil || r.Derogation == nil {
		t.Errorf("derogation = %+v, %v", r, err)
	}
}

// Read matches the patient of a mail against the known patients by INS (ECO.3.1.2); a message
// without Date is listed at its arrival date (issue 11).
func TestAccount_readPatientAndArrivalDate(t *testing.T) {
	w := world(t, 0)
	ctx := context.Background()
	st, known := knownPatients(t, w)
	p := known[1]
	to := sbAccount(t, w, "personal", 1)
	rcpt := open(t, w, to, false, func(o *mailbox.Options) { o.Patients = st })
	addr := p.Identity.INS.Matricule.String() + "@" + w.Config.PatientDomain
	raw := "From: Léa TESTARD <" + addr + ">\r\nTo: <" + to.Address + ">\r\nSubject: question sans date\r\n" +
		"Message-ID: <nodate@test>\r\n\r\nBonjour docteur.\r\n"
	ic := dialIMAP(t, w, to)
	if _, err := ic.Append(ctx, "INBOX", nil, strings.NewReader(raw), int64(len(raw))); err != nil {
		t.Fatal(err)
	}
	s := waitSubject(t, rcpt, "question sans date")
	if !s.DateFromArrival || s.Date.IsZero() || s.Date.Year() < 2000 || s.SenderKind != message.Patient || s.Patient == nil {
		t.Errorf("summary = %+v", s)
	}
	m, err := rcpt.Read(ctx, "INBOX", s.UID)
	if err != nil || m.PatientINS != p.Identity.INS.Matricule.String() || len(m.Patients) != 1 || m.Patients[0].ID != p.ID {
		t.Errorf("Read = %+v, %v", m, err)
	}
}

func dialIMAP(t *testing.T, w *sandbox.World, a sandbox.Account) *lps.IMAPClient {
	t.Helper()
	tok, err := sandbox.FetchToken(context.Background(), w.DataDir, a.NationalID)
	if err != nil {
		t.Fatal(err)
	}
	ic, err := lps.DialIMAP(context.Background(), endpoint(t, w.Config.IMAP), lps.Auth{Method: lps.AuthXOAUTH2,
		Address: a.Address, Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return tok.AccessToken, nil })},
		&lps.Options{TLS: policy(t, w).ClientConfig("", nil)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ic.Close() })
	return ic
}

// Issue 11: an expired token says "jeton expiré"; a revoked certificate, which the operator
// refuses like any other (AUTHENTICATIONFAILED), lists "certificat révoqué" among the likely
// causes. Both wrap lps.ErrAuth. ECO.1.1.6, ECO.1.2.1.
func TestAccount_authFailureCauses(t *testing.T) {
	w := world(t, 2*time.Second)
	ctx := context.Background()
	pro := sbAccount(t, w, "personal", 0)
	tok, err := sandbox.FetchToken(ctx, w.DataDir, pro.NationalID)
	if err != nil {
		t.Fatal(err)
	}
	acct := open(t, w, pro, false, func(o *mailbox.Options) {
		o.Credentials.Tokens = lps.TokenSourceFunc(func(context.Context) (string, error) { return tok.AccessToken, nil })
	})
	exp, ok := mailbox.TokenExpiry(tok.AccessToken)
	if !ok {
		t.Fatal("emulator token has no exp")
	}
	time.Sleep(time.Until(exp) + 1100*time.Millisecond)
	_, err = acct.List(ctx, "INBOX", nil)
	var af *mailbox.AuthFailure
	if !errors.As(err, &af) || af.Cause != mailbox.CauseTokenExpired || !strings.Contains(err.Error(), "jeton expiré") || !errors.Is(err, lps.ErrAuth) {
		t.Errorf("expired token: %v", err)
	}

	app := sbAccount(t, w, "applicative", 0)
	if err := w.RevokeClient(app.Address); err != nil {
		t.Fatal(err)
	}
	_, err = open(t, w, app, false, nil).List(ctx, "INBOX", nil)
	if !errors.As(err, &af) || af.Cause != mailbox.CauseUnknown || !strings.Contains(err.Error(), "certificat révoqué") || !errors.Is(err, lps.ErrAuth) {
		t.Errorf("revoked certificate: %v", err)
	}
}

// Watch reports the mailbox, then each new message, and returns nil when its context ends
// (ECO.1.2.6: the session is closed at once).
func TestAccount_watch(t *testing.T) {
	w := world(t, 0)
	from, to := sbAccount(t, w, "personal", 0), sbAccount(t, w, "personal", 1)
	acct := open(t, w, to, true, nil)
	events := make(chan mailbox.WatchEvent, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- acct.Watch(ctx, "INBOX", &mailbox.WatchOptions{OnEvent: func(ev mailbox.WatchEvent) { events <- ev }})
	}()
	next := func(kind string) mailbox.WatchEvent {
		t.Helper()
		for {
			select {
			case ev := <-events:
				if ev.Kind == kind {
					return ev
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no %s event", kind)
			}
		}
	}
	next("watching")
	sender := open(t, w, from, false, nil)
	if _, err := sender.SendRaw(context.Background(), []byte("From: <"+from.Address+">\r\nTo: <"+to.Address+">\r\nSubject: veille\r\n\r\nx\r\n"), nil); err != nil {
		t.Fatal(err)
	}
	if ev := next("mail"); ev.Mail == nil || ev.Mail.Subject != "veille" {
		t.Errorf("mail event = %+v", ev)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not end with its context")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Watch took %v to end", d)
	}
}

// Probe runs the connection test on the discovered servers (ECO.1.1.9).
func TestAccount_probe(t *testing.T) {
	w := world(t, 0)
	acct := open(t, w, sbAccount(t, w, "applicative", 0), true, nil)
	steps, err := acct.Probe(context.Background())
	if err != nil || len(steps) < 8 {
		t.Fatalf("Probe = %+v, %v", steps, err)
	}
	bad := open(t, w, sbAccount(t, w, "personal", 0), false, func(o *mailbox.Options) {
		o.Credentials.Tokens = lps.TokenSourceFunc(func(context.Context) (string, error) { return "not-a-token", nil })
	})
	var pe *mailbox.ProbeError
	if _, err := bad.Probe(context.Background()); !errors.As(err, &pe) || len(pe.Failed) != 2 {
		t.Errorf("Probe with a bad token = %v", err)
	}
}

// ECO.3.1.6: a read receipt asked for is answered once (built by message, sent, $MDNSent set); a
// mail asking none is not answered. Move files a message in another folder.
func TestAccount_mdnAndMove(t *testing.T) {
	w := world(t, 0)
	ctx := context.Background()
	from, to := sbAccount(t, w, "personal", 0), sbAccount(t, w, "personal", 1)
	sender := open(t, w, from, false, nil)
	label := message.Address{Name: "Dr Jeanne ESSAI", Addr: from.Address}
	for _, subj := range []string{"avec accusé", "sans accusé"} {
		if _, err := sender.Send(ctx, &mailbox.Draft{Draft: message.Draft{From: label, To: []message.Address{{Addr: to.Address}},
			Subject: subj, Text: "x", MDN: subj == "avec accusé"}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	rcpt := open(t, w, to, false, nil)
	asked, none := waitSubject(t, rcpt, "avec accusé"), waitSubject(t, rcpt, "sans accusé")
	if _, err := rcpt.MDN(ctx, "INBOX", none.UID); !errors.Is(err, mailbox.ErrNoMDNRequested) {
		t.Errorf("MDN of a mail asking none: %v", err)
	}
	res, err := rcpt.MDN(ctx, "INBOX", asked.UID)
	if err != nil || res.Composed == nil || len(res.Recipients) != 1 || res.Recipients[0] != from.Address {
		t.Fatalf("MDN = %+v, %v", res, err)
	}
	l, _ := rcpt.List(ctx, "INBOX", nil)
	if !slices.ContainsFunc(l.Messages, func(x mailbox.Summary) bool { return x.UID == asked.UID && slices.Contains(x.Flags, lps.FlagMDNSent) }) {
		t.Errorf("$MDNSent not set: %+v", l.Messages)
	}
	report := waitSubject(t, sender, "avec accusé")
	m, err := sender.Read(ctx, "INBOX", report.UID)
	if err != nil || len(m.Reports) != 1 || m.Reports[0].Kind != "mdn" {
		t.Errorf("receipt read = %+v, %v", m, err)
	}
	boxes, err := rcpt.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dest := ""
	for _, b := range boxes {
		if b.Name != "INBOX" && !slices.Contains(b.Attrs, `\Noselect`) {
			dest = b.Name
			break
		}
	}
	if dest == "" {
		t.Skip("no folder to move to") // the sandbox creates Sent, Trash…: never expected
	}
	if err := rcpt.Move(ctx, "INBOX", []uint32{none.UID}, dest); err != nil {
		t.Fatal(err)
	}
	moved, err := rcpt.List(ctx, dest, nil)
	if err != nil || !slices.ContainsFunc(moved.Messages, func(x mailbox.Summary) bool { return x.Subject == "sans accusé" }) {
		t.Errorf("List(%s) after Move = %+v, %v", dest, moved, err)
	}
}

// FollowTokenFile sees a renewal of the token link and its removal (the end of the session,
// ECO.1.2.6); only a hash of the token is kept.
func TestFollowTokenFile_renewalAndEnd(t *testing.T) {
	f := filepath.Join(t.TempDir(), "token")
	write := func(s string) {
		if err := os.WriteFile(f, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("first")
	renewed, ended := make(chan time.Time, 4), make(chan *mailbox.SessionEnded, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go mailbox.FollowTokenFile(ctx, f, 10*time.Millisecond, func(exp time.Time) { renewed <- exp }, func(e *mailbox.SessionEnded) { ended <- e })
	time.Sleep(50 * time.Millisecond)
	write("eyJhbGciOiJub25lIn0.eyJleHAiOjE3OTk5OTk5OTl9.c2ln")
	select {
	case exp := <-renewed:
		if exp.Unix() != 1799999999 {
			t.Errorf("renewed exp = %v", exp)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no renewal seen")
	}
	if err := os.Remove(f); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-ended:
		if e.Reason != "token-file-removed" {
			t.Errorf("ended = %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("end of the session not seen")
	}
}
