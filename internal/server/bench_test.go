package server

import (
	"net/http"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/pscemu"
)

// BenchmarkTokenEndpoint measures GET /api/v1/mailboxes/{address}/token for a logged-in thick
// client over loopback HTTP: session lookup, holder, JSON answer.
func BenchmarkTokenEndpoint(b *testing.B) {
	e := newEnv(b, envOptions{emu: pscemu.Options{AccessTTL: time.Hour}})
	pro := pscemu.DefaultProfessionals[0]
	handle := e.agentLogin(b, pro.NationalID)
	c := &http.Client{Timeout: 10 * time.Second}
	url := e.ts.URL + "/api/v1/mailboxes/" + pro.Mailboxes[0] + "/token"
	for b.Loop() {
		var tok tokenAnswer
		apiGet(b, c, url, handle, http.StatusOK, &tok)
	}
}
