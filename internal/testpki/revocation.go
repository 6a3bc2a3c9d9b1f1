package testpki

import (
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"time"

	"golang.org/x/crypto/ocsp"
)

// ServeRevocation starts the CRL and OCSP endpoint on the address reserved by New (once; later
// calls only return the URL) and returns its base URL. It stops in t.Cleanup (or Close).
func (p *PKI) ServeRevocation() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv != nil {
		return p.baseURL
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /crl/root.crl", p.serveCRL(p.Root))
	mux.HandleFunc("GET /crl/org.crl", p.serveCRL(p.Org))
	mux.HandleFunc("POST /ocsp", p.serveOCSP)
	mux.HandleFunc("GET /crl/{n}", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		var ca *CA
		for _, c := range p.extraCAs {
			if c != nil && c.crlPath == r.URL.Path {
				ca = c
			}
		}
		p.mu.Unlock()
		if ca == nil {
			http.NotFound(w, r)
			return
		}
		p.serveCRL(ca)(w, r)
	})
	p.srv = &http.Server{Handler: p.downGuard(mux), ReadHeaderTimeout: 5 * time.Second}
	srv, ln := p.srv, p.ln
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && p.t != nil {
			p.t.Logf("testpki: revocation endpoint: %v", err)
		}
	}()
	return p.baseURL
}

func (p *PKI) downGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			http.Error(w, "revocation endpoint down (test)", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (p *PKI) serveCRL(ca *CA) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		der, err := p.CRL(ca)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		_, _ = w.Write(der)
	}
}

// serveOCSP answers an OCSP request for a certificate issued by the root or the ORG intermediate,
// signed directly by the issuing CA.
func (p *PKI) serveOCSP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := ocsp.ParseRequest(body)
	if err != nil {
		w.Header().Set("Content-Type", "application/ocsp-response")
		_, _ = w.Write(ocsp.MalformedRequestErrorResponse)
		return
	}
	now := p.opts.Now()
	tmpl := ocsp.Response{
		SerialNumber: req.SerialNumber,
		ThisUpdate:   now.Add(-time.Minute),
		NextUpdate:   now.Add(-time.Minute + p.opts.CRLValidity),
		Status:       ocsp.Good,
	}
	p.mu.Lock()
	issuer := p.issued[req.SerialNumber.String()]
	revokedAt, revoked := p.revoked[req.SerialNumber.String()]
	p.mu.Unlock()
	if issuer == nil {
		// Unknown serial: answer "unknown", signed by the ORG intermediate.
		issuer = p.Org
		tmpl.Status = ocsp.Unknown
	} else if revoked {
		tmpl.Status = ocsp.Revoked
		tmpl.RevokedAt = revokedAt
		tmpl.RevocationReason = ocsp.KeyCompromise
	}
	resp, err := ocsp.CreateResponse(issuer.Cert, issuer.Cert, tmpl, issuer.Key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	_, _ = w.Write(resp)
}

// IsRevoked reports whether Revoke was called for cert.
func (p *PKI) IsRevoked(cert *x509.Certificate) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.revoked[cert.SerialNumber.String()]
	return ok
}
