package operator

import (
	"strings"
	"testing"
)

// FuzzParseXOAUTH2 feeds the SASL XOAUTH2 parser (outside input: the client's initial response).
// Property: an accepted response has a user and a token without control separators, and
// re-encoding them parses back to the same values.
func FuzzParseXOAUTH2(f *testing.F) {
	f.Add([]byte("user=alice@sandbox.mssante.test\x01auth=Bearer eyJabc.def.ghi\x01\x01"))
	f.Add([]byte("user=a@b\x01auth=bearer t\x01\x01"))
	f.Add([]byte("auth=Bearer t\x01user=a@b\x01\x01"))
	f.Add([]byte("user=a@b\x01auth=Basic dXNlcjpwYXNz\x01\x01"))
	f.Add([]byte("user=\x01auth=Bearer \x01\x01"))
	f.Add([]byte("n,a=a@b,\x01auth=Bearer t\x01\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, resp []byte) {
		user, token, err := parseXOAUTH2(resp)
		if err != nil {
			return
		}
		if user == "" || token == "" || strings.ContainsAny(user+token, "\x01") {
			t.Fatalf("parseXOAUTH2(%q) = %q, %q", resp, user, token)
		}
		u2, t2, err := parseXOAUTH2([]byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01"))
		if err != nil || u2 != user || t2 != token {
			t.Fatalf("round trip of %q, %q = %q, %q, %v", user, token, u2, t2, err)
		}
	})
}

// The XOAUTH2 exchange: initial response asked for when absent, JSON challenge on refusal, then
// the protocol's failure (RFC 7628 §3.2.3).
func TestXOAUTH2Server_exchange(t *testing.T) {
	fail := errRefused
	s := &xoauth2Server{fail: fail, check: func(user, token string) error {
		if token != "good" {
			return errRefused
		}
		return nil
	}}
	if ch, done, err := s.Next(nil); done || err != nil || len(ch) != 0 {
		t.Fatalf("Next(nil) = %q, %v, %v", ch, done, err)
	}
	ch, done, err := s.Next([]byte("user=a@b\x01auth=Bearer bad\x01\x01"))
	if done || err != nil || string(ch) != `{"status":"401","schemes":"bearer","scope":"mail"}` {
		t.Fatalf("refused token: %q, %v, %v", ch, done, err)
	}
	if _, _, err := s.Next([]byte{}); err != fail {
		t.Fatalf("after the challenge: err = %v", err)
	}
	ok := &xoauth2Server{fail: fail, check: s.check}
	if _, done, err := ok.Next([]byte("user=a@b\x01auth=Bearer good\x01\x01")); !done || err != nil {
		t.Fatalf("good token: %v, %v", done, err)
	}
}
