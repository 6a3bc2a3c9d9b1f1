package operator

import (
	"strings"
	"testing"
)

// FuzzParseOAuthBearer feeds the SASL OAUTHBEARER parser (outside input: the client's initial
// response, RFC 7628). Property: an accepted response has an address and a token without
// separators, and re-encoding them parses back to the same values.
func FuzzParseOAuthBearer(f *testing.F) {
	f.Add([]byte("n,a=alice@sandbox.mssante.test,\x01host=localhost\x01port=143\x01auth=Bearer eyJabc.def.ghi\x01\x01"))
	f.Add([]byte("n,a=a@b,\x01auth=bearer t\x01\x01"))
	f.Add([]byte("y,a=a=2Cb@c,\x01auth=Bearer t\x01\x01"))
	f.Add([]byte("p=tls-unique,a=a@b,\x01auth=Bearer t\x01\x01"))
	f.Add([]byte("n,,\x01auth=Bearer t\x01\x01"))
	f.Add([]byte("n,a=a@b,\x01auth=Basic dXNlcjpwYXNz\x01\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, resp []byte) {
		user, token, err := parseOAuthBearer(resp)
		if err != nil {
			return
		}
		if user == "" || token == "" || strings.ContainsAny(token, "\x01") {
			t.Fatalf("parseOAuthBearer(%q) = %q, %q", resp, user, token)
		}
		if strings.ContainsAny(user, "\x01,") {
			return // not representable again
		}
		u2, t2, err := parseOAuthBearer([]byte("n,a=" + strings.ReplaceAll(user, "=", "=3D") + ",\x01auth=Bearer " + token + "\x01\x01"))
		if err != nil || u2 != user || t2 != token {
			t.Fatalf("round trip of %q, %q = %q, %q, %v", user, token, u2, t2, err)
		}
	})
}
