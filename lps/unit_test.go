package lps

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/testpki"
)

// fakeServer runs script on each accepted connection of a loopback listener: an in-process peer
// for wire details (transcript tests). The script reads and writes through a *wire.
func fakeServer(t *testing.T, script func(w *wire)) (Endpoint, *tls.Config) {
	t.Helper()
	pki := testpki.New(t, testpki.Options{})
	leaf := pki.Server("127.0.0.1")
	srvTLS := &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, MinVersion: tls.VersionTLS12}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				w := &wire{t: t, c: c, r: bufio.NewReader(c), tlsCfg: srvTLS}
				script(w)
			}()
		}
	}()
	cli := &tls.Config{RootCAs: pki.RootPool(), MinVersion: tls.VersionTLS12}
	return Endpoint{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port}, cli
}

type wire struct {
	t      *testing.T
	c      net.Conn
	r      *bufio.Reader
	tlsCfg *tls.Config
	got    []string
}

func (w *wire) send(s string) { _, _ = w.c.Write([]byte(s + "\r\n")) }

func (w *wire) recv() string {
	line, err := w.r.ReadString('\n')
	if err != nil {
		return ""
	}
	line = strings.TrimRight(line, "\r\n")
	w.got = append(w.got, line)
	return line
}

func (w *wire) startTLS() bool {
	tc := tls.Server(w.c, w.tlsCfg)
	if err := tc.Handshake(); err != nil {
		return false
	}
	w.c, w.r = tc, bufio.NewReader(tc)
	return true
}

// smtpUntilAuth plays greeting, EHLO, STARTTLS, EHLO and returns the AUTH line.
func smtpUntilAuth(w *wire, exts ...string) string {
	w.send("220 fake ESMTP")
	w.recv()
	w.send("250-fake\r\n250-STARTTLS\r\n250 8BITMIME")
	if w.recv() != "STARTTLS" {
		return ""
	}
	w.send("220 go ahead")
	if !w.startTLS() {
		return ""
	}
	w.recv() // EHLO
	w.send("250-fake\r\n250-AUTH PLAIN XOAUTH2\r\n" + strings.Join(append(exts, "250 SIZE 1000"), "\r\n"))
	return w.recv()
}

const testToken = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJlLXNlY3JldC1ieXRlcw"

// ECO.1.2.1: the XOAUTH2 initial response is exactly user=…^Aauth=Bearer …^A^A; on the JSON error
// challenge the client answers an empty line and reports the status and scope (ECO.1.2.3). The
// token never reaches the trace (ECO.1.2.5).
func TestSMTPAuth_xoauth2TranscriptAndError(t *testing.T) {
	var mu sync.Mutex
	var authLine, answer string
	ep, cli := fakeServer(t, func(w *wire) {
		a := smtpUntilAuth(w)
		w.send("334 " + base64.StdEncoding.EncodeToString([]byte(`{"status":"invalid_token","schemes":"bearer","scope":"mail"}`)))
		ans := w.recv()
		mu.Lock()
		authLine, answer = a, ans
		mu.Unlock()
		w.send("535 5.7.8 Authentication failed")
		w.recv()
		w.send("221 bye")
	})
	var trace bytes.Buffer
	auth := Auth{Method: AuthXOAUTH2, Address: "dr.martin@test.mssante.fr",
		Tokens: TokenSourceFunc(func(context.Context) (string, error) { return testToken, nil })}
	_, err := DialSMTP(context.Background(), ep, auth, &Options{TLS: cli, Trace: &trace})
	var se *SendError
	var ae *AuthError
	if !errors.As(err, &se) || !errors.As(err, &ae) || !errors.Is(err, ErrAuth) {
		t.Fatalf("DialSMTP = %v, want *SendError wrapping *AuthError", err)
	}
	if se.Code != 535 || se.Enhanced != "5.7.8" || se.Command != "AUTH" || !se.Permanent {
		t.Errorf("SendError = %+v", se)
	}
	if ae.Status != "invalid_token" || ae.Scope != "mail" || ae.Schemes != "bearer" {
		t.Errorf("AuthError = %+v", ae)
	}
	mu.Lock()
	defer mu.Unlock()
	want := "user=dr.martin@test.mssante.fr\x01auth=Bearer " + testToken + "\x01\x01"
	if authLine != "AUTH XOAUTH2 "+base64.StdEncoding.EncodeToString([]byte(want)) {
		t.Errorf("AUTH line = %q", authLine)
	}
	if answer != "" {
		t.Errorf("answer to the error challenge = %q, want an empty line", answer)
	}
	tr := trace.String()
	if strings.Contains(tr, testToken) || strings.Contains(tr, base64.StdEncoding.EncodeToString([]byte(want))) ||
		strings.Contains(tr, "c2lnbmF0dXJl") {
		t.Fatalf("ECO.1.2.5: token in the trace:\n%s", tr)
	}
	if !strings.Contains(tr, "C: AUTH XOAUTH2 ***") || !strings.Contains(tr, "S: 535 5.7.8") {
		t.Errorf("trace:\n%s", tr)
	}
}

// ECO.1.0.1: SIZE is checked before sending; DSN parameters only when the server offers DSN.
func TestSubmit_sizeAndDSNOffer(t *testing.T) {
	var mu sync.Mutex
	var mailLines []string
	ep, cli := fakeServer(t, func(w *wire) {
		smtpUntilAuth(w) // AUTH PLAIN
		w.send("235 ok")
		for {
			l := w.recv()
			switch {
			case l == "":
				return
			case strings.HasPrefix(l, "MAIL"):
				mu.Lock()
				mailLines = append(mailLines, l)
				mu.Unlock()
				w.send("250 ok")
			case strings.HasPrefix(l, "RCPT"):
				w.send("250 ok")
			case l == "DATA":
				w.send("354 go")
				for w.recv() != "." {
				}
				w.send("250 2.0.0 queued")
			case l == "QUIT":
				w.send("221 bye")
				return
			default:
				w.send("250 ok")
			}
		}
	})
	auth := Auth{Method: AuthCertPlain, Address: "appli@test.mssante.fr", Certificate: &tls.Certificate{}}
	ctx := context.Background()
	sc, err := DialSMTP(ctx, ep, auth, &Options{TLS: cli})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	big := bytes.Repeat([]byte("x"), 2000)
	_, err = sc.Submit(ctx, "appli@test.mssante.fr", []string{"b@test.mssante.fr"}, bytes.NewReader(big), nil)
	var se *SendError
	if !errors.As(err, &se) || se.Command != "SIZE" || !se.Permanent {
		t.Errorf("oversized Submit = %v, want a permanent SIZE error", err)
	}
	res, err := sc.Submit(ctx, "appli@test.mssante.fr", []string{"b@test.mssante.fr"}, strings.NewReader("Subject: x\r\n\r\nok\r\n"), &DSN{})
	if err != nil {
		t.Fatal(err)
	}
	if res.DSNRequested || res.Response != "2.0.0 queued" {
		t.Errorf("Submit = %+v; DSN requested from a server without DSN", res)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(mailLines) != 1 || strings.Contains(mailLines[0], "RET=") || !strings.Contains(mailLines[0], "SIZE=") {
		t.Errorf("MAIL lines = %q", mailLines)
	}
}

// ECO.1.0.1 / ECO.1.0.2: no STARTTLS, STARTTLS injection and PREAUTH are refused before any
// credential is sent.
func TestDial_refusesCleartext(t *testing.T) {
	auth := Auth{Method: AuthXOAUTH2, Address: "a@test.mssante.fr",
		Tokens: TokenSourceFunc(func(context.Context) (string, error) { return testToken, nil })}
	cases := []struct {
		name   string
		imap   bool
		script func(w *wire)
		want   error
	}{
		{"smtp no STARTTLS", false, func(w *wire) {
			w.send("220 fake")
			w.recv()
			w.send("250-fake\r\n250 AUTH PLAIN XOAUTH2")
			w.recv()
		}, ErrNoSTARTTLS},
		{"smtp injection", false, func(w *wire) {
			w.send("220 fake")
			w.recv()
			w.send("250-fake\r\n250 STARTTLS")
			w.recv()
			w.send("220 go ahead\r\n250 injected")
			w.recv()
		}, ErrProtocol},
		{"imap no STARTTLS", true, func(w *wire) {
			w.send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake")
			w.recv()
		}, ErrNoSTARTTLS},
		{"imap PREAUTH", true, func(w *wire) {
			w.send("* PREAUTH welcome")
			w.recv()
		}, ErrProtocol},
		{"imap capability then no STARTTLS", true, func(w *wire) {
			w.send("* OK fake")
			if w.recv() == "L1 CAPABILITY" {
				w.send("* CAPABILITY IMAP4rev1 AUTH=XOAUTH2\r\nL1 OK done")
			}
			w.recv()
		}, ErrNoSTARTTLS},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ep, cli := fakeServer(t, c.script)
			var trace bytes.Buffer
			var err error
			if c.imap {
				_, err = DialIMAP(context.Background(), ep, auth, &Options{TLS: cli, Trace: &trace})
			} else {
				_, err = DialSMTP(context.Background(), ep, auth, &Options{TLS: cli, Trace: &trace})
			}
			if !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
			if strings.Contains(trace.String(), "AUTH") && strings.Contains(trace.String(), "C: AUTH") {
				t.Errorf("credentials sent:\n%s", trace.String())
			}
		})
	}
}

// ECO.1.2.3: a server that never answers does not hang the caller: the context deadline ends the
// call with an error.
func TestDial_contextDeadline(t *testing.T) {
	ep, cli := fakeServer(t, func(w *wire) { time.Sleep(time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := DialIMAP(ctx, ep, Auth{Method: AuthCertPlain, Address: "a@test.mssante.fr", Certificate: &tls.Certificate{}}, &Options{TLS: cli})
	if err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("DialIMAP = %v after %v, want a prompt error", err, time.Since(start))
	}
}

// STYLE 8.4: the trace hides SASL exchanges, literals and DATA bodies.
func TestTracer_redacts(t *testing.T) {
	var out bytes.Buffer
	tr := newTracer(&out, "imap")
	tr.addSecret("s3cr3t-token")
	tr.feed(true, []byte("A1 AUTHENTICATE PLAIN AHVzZXIAcGFzcw==\r\n"))
	tr.feed(false, []byte("+ \r\n"))
	tr.feed(true, []byte("AHVzZXIAcGFzcw==\r\n"))
	tr.feed(false, []byte("A1 OK done\r\nA2 LOGIN u p\r\n"))
	tr.feed(false, []byte("* 1 FETCH (UID 5 BODY[] {12}\r\nPatient X..\r\n)\r\n"))
	tr.feed(true, []byte("A3 NOOP s3cr3t-token\r\n"))
	s := out.String()
	for _, leak := range []string{"AHVzZXIAcGFzcw", "Patient", "s3cr3t"} {
		if strings.Contains(s, leak) {
			t.Errorf("trace leaks %q:\n%s", leak, s)
		}
	}
	for _, want := range []string{"C: A1 AUTHENTICATE PLAIN ***", "C: ***", "S: A1 OK done", "… (12 bytes)", "S: )"} {
		if !strings.Contains(s, want) {
			t.Errorf("trace lacks %q:\n%s", want, s)
		}
	}
	out.Reset()
	tr = newTracer(&out, "smtp")
	tr.feed(true, []byte("DATA\r\n"))
	tr.feed(false, []byte("354 go\r\n"))
	tr.feed(true, []byte("Subject: secret diagnosis\r\n\r\nbody\r\n.\r\n"))
	tr.feed(false, []byte("250 ok\r\n"))
	if s := out.String(); strings.Contains(s, "diagnosis") || !strings.Contains(s, "C: .") || !strings.Contains(s, "S: 250 ok") {
		t.Errorf("SMTP trace:\n%s", s)
	}
}

func TestAuthMethod_String(t *testing.T) {
	for m, want := range map[AuthMethod]string{AuthXOAUTH2: "XOAUTH2", AuthCertPlain: "PLAIN+cert", 9: "AuthMethod(9)"} {
		if got := m.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(m), got, want)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	for in, ok := range map[string]bool{"smtp.x.fr:587": true, "[::1]:143": true, "x.fr": false, ":143": false, "x:0": false, "x:99999": false} {
		ep, err := ParseEndpoint(in)
		if (err == nil) != ok {
			t.Errorf("ParseEndpoint(%q) = %v, %v", in, ep, err)
		}
		if ok && ep.String() != in {
			t.Errorf("ParseEndpoint(%q).String() = %q", in, ep.String())
		}
	}
}

// FuzzParseXOAUTH2Challenge: any challenge gives a bounded, valid UTF-8 AuthError.
func FuzzParseXOAUTH2Challenge(f *testing.F) {
	f.Add([]byte(`{"status":"401","schemes":"bearer","scope":"mail"}`))
	f.Add([]byte(`{"status":"invalid_token"}`))
	f.Add([]byte("not json \xff"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e := parseXOAUTH2Challenge(b)
		if e.Mechanism != "XOAUTH2" || !errors.Is(e, ErrAuth) {
			t.Fatalf("bad AuthError %+v", e)
		}
		if len(e.Status) > 200 && !strings.HasPrefix(strings.TrimSpace(string(b)), "{") {
			t.Fatalf("status not bounded: %d", len(e.Status))
		}
		_ = e.Error()
	})
}

// FuzzReadSMTPReply: any server reply before TLS is parsed or refused, never panics, and STARTTLS
// is seen only when announced.
func FuzzReadSMTPReply(f *testing.F) {
	f.Add("250-mx\r\n250-STARTTLS\r\n250 SIZE 10\r\n")
	f.Add("220 ready\r\n")
	f.Add("25\r\n")
	f.Add("250-x\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		p := &plainSession{br: bufio.NewReader(strings.NewReader(s))}
		code, _, exts, err := readSMTPReply(p)
		if err == nil && (code < 0 || code > 999) {
			t.Fatalf("code %d", code)
		}
		if exts["STARTTLS"] && !strings.Contains(strings.ToUpper(s), "STARTTLS") {
			t.Fatalf("STARTTLS invented")
		}
	})
}

// FuzzCapsFromLine: capabilities come only from a [CAPABILITY …] code.
func FuzzCapsFromLine(f *testing.F) {
	f.Add("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready")
	f.Add("* OK ready")
	f.Add("* OK [CAPABILITY")
	f.Fuzz(func(t *testing.T, s string) {
		caps := capsFromLine(s)
		if caps["STARTTLS"] && !strings.Contains(strings.ToUpper(s), "STARTTLS") {
			t.Fatalf("STARTTLS invented")
		}
	})
}

// FuzzTracer: whatever the server and client send, a registered secret never reaches the trace
// whole, and the trace never panics (STYLE 8.4, ECO.1.2.5).
func FuzzTracer(f *testing.F) {
	f.Add([]byte("* 1 FETCH (BODY[] {5}\r\nhello)\r\n"), []byte("A1 AUTHENTICATE XOAUTH2 SECRETTOKEN\r\n"), true)
	f.Add([]byte("354 go\r\n"), []byte("DATA\r\nSECRETTOKEN\r\n.\r\n"), false)
	f.Fuzz(func(t *testing.T, server, client []byte, imap bool) {
		var out bytes.Buffer
		proto := "smtp"
		if imap {
			proto = "imap"
		}
		tr := newTracer(&out, proto)
		tr.addSecret("SECRETTOKEN")
		half := len(client) / 2
		tr.feed(true, client[:half])
		tr.feed(false, server)
		tr.feed(true, client[half:])
		tr.feed(true, []byte("\r\n"))
		if bytes.Contains(out.Bytes(), []byte("SECRETTOKEN")) {
			t.Fatalf("secret in trace:\n%s", out.String())
		}
	})
}

// ECO.1.2.1, RFC 7628 §3.2.3: on IMAP the error challenge is answered with an empty line (go-imap
// would send "="), and the refusal is an *AuthError with the challenge's status.
func TestIMAPAuth_xoauth2ErrorChallenge(t *testing.T) {
	var mu sync.Mutex
	var authLine, answer string
	ep, cli := fakeServer(t, func(w *wire) {
		w.send("* OK [CAPABILITY IMAP4rev1 STARTTLS] fake")
		if w.recv() != "L2 STARTTLS" {
			return
		}
		w.send("L2 OK begin TLS")
		if !w.startTLS() {
			return
		}
		if w.recv() != "A1 CAPABILITY" {
			return
		}
		w.send("* CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2\r\nA1 OK done")
		a := w.recv()
		w.send("+ " + base64.StdEncoding.EncodeToString([]byte(`{"status":"401","schemes":"bearer","scope":"mail"}`)))
		ans := w.recv()
		mu.Lock()
		authLine, answer = a, ans
		mu.Unlock()
		w.send("A2 NO [AUTHENTICATIONFAILED] Authentication failed.")
	})
	auth := Auth{Method: AuthXOAUTH2, Address: "dr.martin@test.mssante.fr",
		Tokens: TokenSourceFunc(func(context.Context) (string, error) { return testToken, nil })}
	_, err := DialIMAP(context.Background(), ep, auth, &Options{TLS: cli})
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Status != "401" || ae.Scope != "mail" || !strings.Contains(ae.Response, "AUTHENTICATIONFAILED") {
		t.Fatalf("DialIMAP = %v (%+v), want an AuthError with status 401", err, ae)
	}
	mu.Lock()
	defer mu.Unlock()
	want := base64.StdEncoding.EncodeToString([]byte("user=dr.martin@test.mssante.fr\x01auth=Bearer " + testToken + "\x01\x01"))
	if authLine != "A2 AUTHENTICATE XOAUTH2 "+want || answer != "" {
		t.Errorf("AUTHENTICATE line %q, answer %q (want an empty line)", authLine, answer)
	}
}

// ECO.1.0.1, RFC 2920: with PIPELINING, MAIL and every RCPT leave in one group (the server reads
// them all before answering); a refused recipient aborts the transaction (RSET, no DATA).
func TestSubmit_pipelinedEnvelope(t *testing.T) {
	var mu sync.Mutex
	var group, after []string
	ep, cli := fakeServer(t, func(w *wire) {
		smtpUntilAuth(w, "250-PIPELINING", "250-DSN")
		w.send("235 ok")
		g := []string{w.recv(), w.recv(), w.recv()} // no reply yet: only a pipelining client gets here
		w.send("250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 <nobody@test.mssante.fr>: Recipient address rejected")
		a := w.recv()
		// Recorded before the answer: Submit may return as soon as it has read it.
		mu.Lock()
		group, after = g, []string{a}
		mu.Unlock()
		w.send("250 2.0.0 reset")
		w.recv()
		w.send("221 bye")
	})
	auth := Auth{Method: AuthCertPlain, Address: "appli@test.mssante.fr", Certificate: &tls.Certificate{}}
	ctx := context.Background()
	sc, err := DialSMTP(ctx, ep, auth, &Options{TLS: cli})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	_, err = sc.Submit(ctx, "appli@test.mssante.fr", []string{"b@test.mssante.fr", "nobody@test.mssante.fr"},
		strings.NewReader("Subject: x\r\n\r\nok\r\n"), &DSN{EnvelopeID: "id+1"})
	var se *SendError
	if !errors.As(err, &se) || se.Command != "RCPT" || se.Code != 550 || se.Enhanced != "5.1.1" || !se.Permanent ||
		!strings.Contains(se.Line, "<nobody@test.mssante.fr>") {
		t.Fatalf("Submit = %v, want a permanent RCPT 550 5.1.1 error naming the recipient", err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"MAIL FROM:<appli@test.mssante.fr> SIZE=18 RET=HDRS ENVID=id+2B1",
		"RCPT TO:<b@test.mssante.fr> NOTIFY=SUCCESS,FAILURE,DELAY", "RCPT TO:<nobody@test.mssante.fr> NOTIFY=SUCCESS,FAILURE,DELAY"}
	if strings.Join(group, "|") != strings.Join(want, "|") || len(after) != 1 || after[0] != "RSET" {
		t.Errorf("pipelined group %q then %q; want %q then RSET", group, after, want)
	}
}

// FuzzReadReply: any reply is parsed or refused, never panics; codes stay in 200..599.
func FuzzReadReply(f *testing.F) {
	f.Add("250-mx\r\n250 2.1.0 Ok\r\n")
	f.Add("550 5.1.1 <x@y>: Recipient address rejected\r\n")
	f.Add("354 \r\n")
	f.Add("250-a\r\n251 b\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		code, enh, _, err := readReply(bufio.NewReader(strings.NewReader(s)))
		if err == nil && (code < 200 || code > 599 || (enh != "" && !isEnhanced(enh))) {
			t.Fatalf("readReply(%q) = %d %q", s, code, enh)
		}
	})
}

// TestAuth_login: the SASL identity is the mailbox address (ECO.1.2.1, ECO.1.3.1) unless an
// autoconfig <username> gives another login (ECO.1.1.9); a login with control bytes is refused.
func TestAuth_login(t *testing.T) {
	tokens := TokenSourceFunc(func(context.Context) (string, error) { return "tok", nil })
	for _, tt := range []struct {
		auth Auth
		want string // start of the initial response
	}{
		{Auth{Method: AuthXOAUTH2, Address: "a@x.fr", Tokens: tokens}, "user=a@x.fr\x01"},
		{Auth{Method: AuthXOAUTH2, Address: "a@x.fr", Login: "a", Tokens: tokens}, "user=a\x01"},
		{Auth{Method: AuthCertPlain, Address: "app@x.fr"}, "\x00app@x.fr\x00"},
		{Auth{Method: AuthCertPlain, Address: "app@x.fr", Login: "APP"}, "\x00APP\x00"},
	} {
		if err := tt.auth.validate(); err != nil {
			t.Fatal(err)
		}
		c, _, err := tt.auth.newSASL(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, ir, _ := c.Start()
		if !strings.HasPrefix(string(ir), tt.want) {
			t.Errorf("%+v: initial response %q, want prefix %q", tt.auth.Login, ir, tt.want)
		}
	}
	bad := Auth{Method: AuthCertPlain, Address: "app@x.fr", Login: "a\r\nb"}
	if bad.validate() == nil {
		t.Error("login with CRLF accepted")
	}
}

// TestDial_silentServerGreetingTimeout: a server that says nothing (an implicit-TLS port such as
// 993 or 465 waiting for a ClientHello) ends the dial after GreetingTimeout, with an error that
// names the likely cause, for IMAP and SMTP (ECO.1.0.1, ECO.1.0.2, ECO.1.2.3).
func TestDial_silentServerGreetingTimeout(t *testing.T) {
	ep, cli := fakeServer(t, func(w *wire) { time.Sleep(2 * time.Second) })
	auth := Auth{Method: AuthCertPlain, Address: "a@test.mssante.fr", Certificate: &tls.Certificate{}}
	opts := &Options{TLS: cli, GreetingTimeout: 100 * time.Millisecond}
	for name, dial := range map[string]func() error{
		"imap": func() error { _, err := DialIMAP(context.Background(), ep, auth, opts); return err },
		"smtp": func() error { _, err := DialSMTP(context.Background(), ep, auth, opts); return err },
	} {
		start := time.Now()
		err := dial()
		if err == nil || !strings.Contains(err.Error(), "implicit-TLS") || !errors.Is(err, ErrConnBroken) {
			t.Errorf("%s: err = %v, want a greeting timeout naming implicit TLS", name, err)
		}
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("%s: returned after %v, want about GreetingTimeout", name, d)
		}
	}
}
