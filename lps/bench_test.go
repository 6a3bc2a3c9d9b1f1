package lps_test

import (
	"bytes"
	"context"
	"fmt"
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

// BenchmarkFetchBodies: 200 messages of 40 KB from the real Dovecot, one UID FETCH for all
// (FetchBodies) against one command per message (FetchBody); msg/s and B/op side by side.
//
//	go test -run '^$' -bench 'FetchBodies' -benchmem ./lps/
func BenchmarkFetchBodies(b *testing.B) {
	e := newPeerEnvTB(b)
	const n, size = 200, 40 << 10
	for i := range n {
		e.st.Deliver(bob, "INBOX", sizedMessage(alice, bob, fmt.Sprintf("bench %d", i), size))
	}
	ctx := context.Background()
	ic, err := lps.DialIMAP(ctx, ep(b, e.st.IMAP), e.xoauth2(bob, time.Hour), e.opts(nil, nil))
	if err != nil {
		b.Fatal(err)
	}
	defer ic.Close()
	if _, err := ic.Select(ctx, "INBOX"); err != nil {
		b.Fatal(err)
	}
	uids, err := ic.Search(ctx, lps.Criteria{Subject: "bench"})
	if err != nil || len(uids) != n {
		b.Fatalf("Search = %d UIDs, %v", len(uids), err)
	}
	b.Run("batch", func(b *testing.B) {
		b.SetBytes(n * size)
		for i := 0; i < b.N; i++ {
			got := 0
			err := ic.FetchBodies(ctx, uids, func(m *lps.FetchedMessage) error {
				got++
				_, err := io.Copy(io.Discard, m.Body)
				return err
			})
			if err != nil || got != n {
				b.Fatalf("FetchBodies = %d, %v", got, err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msg/s")
	})
	b.Run("one-by-one", func(b *testing.B) {
		b.SetBytes(n * size)
		for i := 0; i < b.N; i++ {
			for _, u := range uids {
				if _, err := ic.FetchBody(ctx, u, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msg/s")
	})
}
