package lps_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/lps"
)

// BenchmarkFetchBody_10MB streams a 10 MB message from the real Dovecot to io.Discard; B/op shows
// that the body is not held in memory (ECO.1.0.2, bounded memory).
//
//	go test -run '^$' -bench FetchBody -benchmem ./lps/
func BenchmarkFetchBody_10MB(b *testing.B) {
	e := newPeerEnvTB(b)
	var msg bytes.Buffer
	msg.WriteString("From: <alice@test.mssante.fr>\r\nTo: <bob@test.mssante.fr>\r\nSubject: big\r\n\r\n")
	line := strings.Repeat("0123456789", 9) + "\r\n"
	for msg.Len() < 10<<20 {
		msg.WriteString(line)
	}
	e.st.Deliver(bob, "INBOX", msg.Bytes())
	ctx := context.Background()
	ic, err := lps.DialIMAP(ctx, ep(b, e.st.IMAP), e.xoauth2(bob, time.Hour), e.opts(nil, nil))
	if err != nil {
		b.Fatal(err)
	}
	defer ic.Close()
	if _, err := ic.Select(ctx, "INBOX"); err != nil {
		b.Fatal(err)
	}
	uids, err := ic.Search(ctx, lps.Criteria{Subject: "big"})
	if err != nil || len(uids) != 1 {
		b.Fatalf("Search = %v, %v", uids, err)
	}
	b.SetBytes(int64(msg.Len()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n, err := ic.FetchBody(ctx, uids[0], io.Discard)
		if err != nil || n < int64(msg.Len()) {
			b.Fatalf("FetchBody = %d, %v", n, err)
		}
	}
}

// BenchmarkDialSMTP opens and closes an applicative session on the real Postfix: connect,
// STARTTLS, TLS 1.3 handshake with the client certificate and the revocation checks, EHLO, AUTH
// PLAIN, QUIT: the fixed cost of a one-message `mssante send`. Without quickAck about half the
// sessions waited 40 ms for the EHLO answer (see quickack_linux.go).
//
//	go test -run '^$' -bench DialSMTP ./lps/
func BenchmarkDialSMTP(b *testing.B) {
	e := newPeerEnvTB(b)
	ctx := context.Background()
	auth := lps.Auth{Method: lps.AuthCertPlain, Address: appli, Certificate: e.cert}
	opts := e.opts(nil, nil)
	for b.Loop() {
		sc, err := lps.DialSMTP(ctx, ep(b, e.st.Submission), auth, opts)
		if err != nil {
			b.Fatal(err)
		}
		if err := sc.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
