package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mssante/mssante/internal/psc"
)

// refusingPSC answers every call with an error: the fuzz target checks request handling only.
type refusingPSC struct{}

func (refusingPSC) AuthCodeURL() (*psc.AuthRequest, error) { return nil, psc.ErrAccessDenied }
func (refusingPSC) Exchange(context.Context, *psc.AuthRequest, string, string) (*psc.Tokens, error) {
	return nil, psc.ErrAccessDenied
}
func (refusingPSC) StartCIBA(context.Context, psc.CIBARequest) (*psc.CIBAAuth, error) {
	return nil, psc.ErrAccessDenied
}
func (refusingPSC) PollCIBAOnce(context.Context, *psc.CIBAAuth) (*psc.Tokens, error) {
	return nil, psc.ErrAccessDenied
}
func (refusingPSC) UserInfo(context.Context, []byte) (*psc.UserInfo, error) {
	return nil, psc.ErrAccessDenied
}

// FuzzCIBAStart sends arbitrary bodies, content types and bearer handles to the server: it never
// panics, never answers 2xx without PSC, and every error is JSON with a French message.
func FuzzCIBAStart(f *testing.F) {
	f.Add("application/json", `{"national_id":"899700000018","channel":"MOBILE","client":"agent"}`, "")
	f.Add("application/x-www-form-urlencoded", "national_id=899700000018&channel=CARD", "")
	f.Add("application/json", `{"national_id":"8997<script>","channel":"FAX"}`, "Bearer x")
	f.Add("text/plain", strings.Repeat("a", 5000), "Bearer "+strings.Repeat("A", 43))
	f.Add("application/json", `{"national_id":1}`, "Basic Zm9vOmJhcg==")
	srv, err := New(Options{PSC: refusingPSC{}, NewHolder: func(*psc.Tokens) Holder { return nil }})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, ctype, body, authz string) {
		for _, path := range []string{"/auth/ciba/start", "/auth/ciba/poll", "/auth/logout"} {
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			req.Header.Set("Content-Type", ctype)
			if authz != "" {
				req.Header.Set("Authorization", authz)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if path == "/auth/logout" {
				continue
			}
			if rec.Code < 400 {
				t.Fatalf("%s %q: status %d without PSC", path, body, rec.Code)
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") ||
				!strings.Contains(rec.Body.String(), `"message":"`) {
				t.Fatalf("%s: error answer %q", path, rec.Body.String())
			}
		}
	})
}
