package sandbox

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mssante/mssante/autoconfig"
	"github.com/mssante/mssante/internal/pscemu"
)

// FuzzAutoconfigHandler: whatever emailaddress a client sends, the endpoint answers 404 or a
// document that the autoconfig client parses, with STARTTLS entries only (ECO.1.1.9).
func FuzzAutoconfigHandler(f *testing.F) {
	for _, s := range []string{"jeanne.essai@sandbox.mssante.test", "x@HOPITAL.sandbox.mssante.test", "", "@", "a@",
		"<b>@sandbox.mssante.test", "a@b@sandbox.mssante.test", "é@patient.sandbox.mssante.test", "a@autre.test"} {
		f.Add(s)
	}
	c := seedConfig(DefaultProDomain, DefaultOrgDomain, DefaultPatientDomain)
	c.IMAP, c.SMTP = "127.0.0.1:1143", "127.0.0.1:1587"
	w := &World{Config: c, PSC: &pscemu.Server{URL: "http://127.0.0.1:18081", Issuer: "http://127.0.0.1:18081" + pscemu.RealmPath}}
	h := w.autoconfigHandler()
	f.Fuzz(func(t *testing.T, addr string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/mail/config-v1.1.xml?emailaddress="+url.QueryEscape(addr), nil))
		switch rec.Code {
		case http.StatusNotFound:
			return
		case http.StatusOK:
		default:
			t.Fatalf("status %d for %q", rec.Code, addr)
		}
		if !strings.Contains(addr, "@") {
			t.Fatalf("document served for %q", addr)
		}
		cfg, err := autoconfig.Parse(rec.Body.Bytes(), "user@sandbox.mssante.test")
		if err != nil {
			t.Fatalf("served document does not parse (%q): %v", addr, err)
		}
		for _, e := range append(cfg.Incoming, cfg.Outgoing...) {
			if e.SocketType != "STARTTLS" {
				t.Fatalf("entry %+v", e)
			}
		}
	})
}
