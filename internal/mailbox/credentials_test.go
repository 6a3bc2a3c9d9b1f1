package mailbox

import (
	"testing"
)

// TokenExpiry reads exp for display and refuses what is not a JWT.
func TestTokenExpiry(t *testing.T) {
	exp, ok := TokenExpiry("eyJhbGciOiJub25lIn0.eyJleHAiOjE3OTk5OTk5OTl9.c2ln")
	if !ok || exp.Unix() != 1799999999 {
		t.Fatalf("TokenExpiry = %v, %t", exp, ok)
	}
	for _, bad := range []string{"", "opaque", "a.b.c", "eyJhbGciOiJub25lIn0.eyJleHAiOiJ4In0.c2ln"} {
		if _, ok := TokenExpiry(bad); ok {
			t.Errorf("TokenExpiry(%q) ok", bad)
		}
	}
}

// TokenExpiry reads a token file's content, outside input: it never panics.
func FuzzTokenExpiry(f *testing.F) {
	f.Add("eyJhbGciOiJub25lIn0.eyJleHAiOjE3OTk5OTk5OTl9.c2ln")
	f.Add("a.eyJleHAiOi0xfQ.b")
	f.Add("..")
	f.Add("opaque-token")
	f.Fuzz(func(t *testing.T, tok string) {
		if exp, ok := TokenExpiry(tok); ok && exp.Unix() <= 0 {
			t.Fatalf("expiry %v accepted", exp)
		}
	})
}

func TestTokenAuthor(t *testing.T) {
	// {"sub":"899700000018","preferred_username":"camille"}
	tok := "eyJhbGciOiJub25lIn0.eyJzdWIiOiI4OTk3MDAwMDAwMTgiLCJwcmVmZXJyZWRfdXNlcm5hbWUiOiJjYW1pbGxlIn0.c2ln"
	if got := TokenAuthor(tok, "def"); got != "camille" {
		t.Errorf("TokenAuthor = %q", got)
	}
	if got := TokenAuthor("opaque", "def"); got != "def" {
		t.Errorf("TokenAuthor(opaque) = %q", got)
	}
}
