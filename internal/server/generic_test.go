package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/mssante/mssante/internal/psc"
)

// userInfo builds a userinfo answer as PSC or a generic provider sends it.
func userInfo(t *testing.T, claims map[string]any) *psc.UserInfo {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	var u psc.UserInfo
	if err := json.Unmarshal(b, &u); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &u.Raw); err != nil {
		t.Fatal(err)
	}
	return &u
}

// QA issue 4: a provider that is not PSC gives no SubjectNameID. The national id falls back to
// preferred_username, then sub (logged), and a configured claim name is honoured.
func TestNationalID_claimFallbacks(t *testing.T) {
	logs := &syncBuffer{}
	srv := &Server{o: Options{NationalIDClaim: "SubjectNameID"}, log: slog.New(slog.NewJSONHandler(logs, nil))}
	s := &session{}
	cases := []struct {
		name   string
		claim  string
		claims map[string]any
		idTok  *psc.IDClaims
		want   string
	}{
		{"PSC userinfo", "SubjectNameID", map[string]any{"sub": "f:abc", "SubjectNameID": "899700000018"}, nil, "899700000018"},
		{"PSC ID token", "SubjectNameID", map[string]any{"sub": "f:abc"}, &psc.IDClaims{SubjectNameID: "899700000026"}, "899700000026"},
		{"preferred_username", "SubjectNameID", map[string]any{"sub": "uuid-1", "preferred_username": "899700000034"}, nil, "899700000034"},
		{"sub", "SubjectNameID", map[string]any{"sub": "899700000042"}, nil, "899700000042"},
		{"configured claim", "rpps", map[string]any{"sub": "uuid-2", "rpps": "810000000001"}, nil, "810000000001"},
	}
	for _, c := range cases {
		srv.o.NationalIDClaim = c.claim
		if got := srv.nationalID(s, userInfo(t, c.claims), &psc.Tokens{Claims: c.idTok}); got != c.want {
			t.Errorf("%s: national id %q, want %q", c.name, got, c.want)
		}
	}
	if !strings.Contains(string(logs.Bytes()), `"using":"preferred_username"`) || !strings.Contains(string(logs.Bytes()), `"using":"sub"`) {
		t.Errorf("fallbacks not logged:\n%s", logs.Bytes())
	}
}

// QA issue 4: the mailboxes come from configurable userinfo claims, each a string or a list; the
// default (email, then mailboxes) is unchanged.
func TestClaimMailboxes(t *testing.T) {
	u := userInfo(t, map[string]any{"sub": "x", "email": "Camille.Testard@test.mssante.fr",
		"mailboxes":   []string{"camille.testard@test.mssante.fr", "cabinet@test.mssante.fr"},
		"mssante_bal": "autre@test.mssante.fr", "weird": 42})
	for _, c := range []struct {
		names []string
		want  []string
	}{
		{[]string{"email", "mailboxes"}, []string{"Camille.Testard@test.mssante.fr", "cabinet@test.mssante.fr"}},
		{[]string{"mssante_bal"}, []string{"autre@test.mssante.fr"}},
		{[]string{"weird", "absent"}, nil},
	} {
		got, err := claimMailboxes(c.names)(context.Background(), u)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%v: %v, %v; want %v", c.names, got, err, c.want)
		}
	}
}

// noCIBA is a provider without a backchannel endpoint.
type noCIBA struct{ PSC }

func (noCIBA) StartCIBA(context.Context, psc.CIBARequest) (*psc.CIBAAuth, error) {
	return nil, psc.ErrCIBAUnsupported
}

// QA issue 4: CIBA at a provider that does not offer it is 501 ciba_unsupported with a French
// message pointing to the browser login, not a 502 "PSC refused".
func TestCIBAStart_unsupportedProvider(t *testing.T) {
	srv, err := New(Options{PSC: noCIBA{}, NewHolder: func(*psc.Tokens) Holder { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	resp, err := http.Post(ts.URL+"/auth/ciba/start", "application/json",
		strings.NewReader(`{"national_id":"899700000018","channel":"MOBILE","client":"agent"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v apiError
	_ = json.NewDecoder(resp.Body).Decode(&v)
	if resp.StatusCode != http.StatusNotImplemented || v.Error != "ciba_unsupported" || !strings.Contains(v.Message, "navigateur") {
		t.Fatalf("answer %d %+v", resp.StatusCode, v)
	}
}

// claimStrings reads provider claims, outside input: it never panics and keeps only strings.
func FuzzClaimStrings(f *testing.F) {
	for _, s := range []string{`"a@b.fr"`, `["a@b.fr","c@d.fr"]`, `42`, `null`, `[1,"x"]`, `{"a":1}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out := claimStrings(raw)
		if out == nil {
			return
		}
		var one string
		var many []string
		switch {
		case json.Unmarshal(raw, &one) == nil:
			if len(out) != 1 || out[0] != one {
				t.Fatalf("string claim %q read as %q", raw, out)
			}
		case json.Unmarshal(raw, &many) == nil:
			if !slices.Equal(out, many) {
				t.Fatalf("list claim %q read as %q", raw, out)
			}
		default:
			t.Fatalf("claim %q is neither a string nor a list, read as %q", raw, out)
		}
	})
}
