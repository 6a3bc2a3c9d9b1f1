package trust

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"
)

// clockSkew is the tolerance on thisUpdate in the future (CRL and OCSP).
const clockSkew = 5 * time.Minute

// revocationChecker establishes the revocation status of a certificate: the CRL distribution
// points first (with a persistent cache, ECO.1.1.7), then the OCSP responder (AIA), and refuses
// when neither gives a status (fail closed, ECO.1.1.6).
type revocationChecker struct {
	client     *http.Client
	log        *slog.Logger
	now        func() time.Time
	cacheDir   string
	refresh    time.Duration
	maxCRL     int64
	ocspMaxAge time.Duration

	mu  sync.Mutex
	mem map[string]*cachedCRL // by distribution point URL
}

// cachedCRL is a verified CRL with its serials indexed (IGC Santé CRLs hold many entries).
type cachedCRL struct {
	crl      *x509.RevocationList
	fetched  time.Time
	issuerFP string               // issuer whose signature was verified
	revoked  map[string]time.Time // serial (big-endian bytes) -> revocation time
}

func newCachedCRL(crl *x509.RevocationList, fetched time.Time, issuerFP string) *cachedCRL {
	c := &cachedCRL{crl: crl, fetched: fetched, issuerFP: issuerFP,
		revoked: make(map[string]time.Time, len(crl.RevokedCertificateEntries))}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber != nil {
			c.revoked[string(e.SerialNumber.Bytes())] = e.RevocationTime
		}
	}
	return c
}

func newRevocationChecker(o Options, log *slog.Logger) *revocationChecker {
	r := &revocationChecker{client: o.HTTPClient, log: log, now: o.Now, cacheDir: o.CRLCacheDir,
		refresh: o.CRLRefresh, maxCRL: o.MaxCRLSize, ocspMaxAge: o.OCSPMaxAge, mem: map[string]*cachedCRL{}}
	if r.refresh == 0 {
		r.refresh = time.Hour
	}
	if r.maxCRL == 0 {
		r.maxCRL = 64 << 20
	}
	if r.ocspMaxAge == 0 {
		r.ocspMaxAge = 48 * time.Hour
	}
	return r
}

// checkChain checks every certificate of chain (leaf first, anchor last) below the anchor, all at
// once: their statuses are independent, so a handshake waits for the slowest publication point
// rather than for the sum of them (two CRLs and two OCSP answers for an IGC Santé server chain).
// The error is the one of the certificate nearest the leaf that fails, as a check in chain order
// would give.
func (r *revocationChecker) checkChain(ctx context.Context, chain []*x509.Certificate) error {
	n := len(chain) - 1
	if n <= 1 {
		if n == 1 {
			return r.check(ctx, chain[0], chain[1])
		}
		return nil
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = r.check(ctx, chain[i], chain[i+1]) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// check returns nil when cert (issued by issuer) is known not to be revoked, else a *RefusalError.
// CRLs come first: their cache keeps connections working through an outage of the publication
// point (ECO.1.1.7), and IGC Santé CA certificates carry CRL distribution points only. The OCSP
// responder (AIA), when the certificate names one, is asked as well, even after a CRL said "not
// revoked": it is fresher than a CRL published up to a week ago, and a certificate it says is
// revoked is refused. When the CRL gave a status and the responder cannot be reached (or answers
// "unknown"), the CRL's status stands. With neither, the server is refused (fail closed, ECO.1.1.6).
// The responder is asked while the CRL is fetched (the check waits for the slower, not for both
// in turn), and the question is withdrawn when the CRL says revoked.
func (r *revocationChecker) check(ctx context.Context, cert, issuer *x509.Certificate) error {
	var ocspDone chan ocspOutcome
	if len(httpURLs(cert.OCSPServer)) > 0 {
		octx, cancel := context.WithCancel(ctx)
		defer cancel()
		ocspDone = make(chan ocspOutcome, 1)
		go func() { ocspDone <- r.ocspStatus(octx, cert, issuer) }()
	}
	var problems []error
	crlOK := false
	for _, url := range httpURLs(cert.CRLDistributionPoints) {
		crl, err := r.crl(ctx, url, issuer)
		if err != nil {
			problems = append(problems, fmt.Errorf("crl %s: %w", url, err))
			continue
		}
		if at, revoked := crl.revoked[string(cert.SerialNumber.Bytes())]; revoked {
			return refuse(RuleRevokedCRL, cert, fmt.Errorf("%w at %s (CRL %s)", ErrRevoked,
				at.UTC().Format(time.RFC3339), url))
		}
		crlOK = true
		break
	}
	if ocspDone != nil {
		o := <-ocspDone
		if o.good {
			return nil
		}
		if o.refusal != nil {
			return o.refusal
		}
		problems = append(problems, o.problems...)
	}
	if crlOK {
		if len(problems) > 0 {
			r.log.Info("ocsp responder gave no status, the crl's stands", "subject", cert.Subject.String(),
				"err", errors.Join(problems...))
		}
		return nil
	}
	if len(problems) == 0 {
		problems = append(problems, errors.New("no HTTP CRL distribution point nor OCSP responder in the certificate"))
	}
	r.log.Warn("revocation status unknown", "subject", cert.Subject.String(), "err", errors.Join(problems...))
	return refuse(RuleRevocationUnknown, cert, errors.Join(append([]error{ErrRevocationUnknown}, problems...)...))
}

// ocspOutcome is what the OCSP responders of a certificate said: good, revoked (refusal), or
// nothing usable (problems).
type ocspOutcome struct {
	good     bool
	refusal  error
	problems []error
}

// ocspStatus asks the responders of cert in turn until one gives a status.
func (r *revocationChecker) ocspStatus(ctx context.Context, cert, issuer *x509.Certificate) ocspOutcome {
	var out ocspOutcome
	for _, url := range httpURLs(cert.OCSPServer) {
		resp, err := r.ocsp(ctx, url, cert, issuer)
		if err != nil {
			out.problems = append(out.problems, fmt.Errorf("ocsp %s: %w", url, err))
			continue
		}
		switch resp.Status {
		case ocsp.Good:
			out.good = true
			return out
		case ocsp.Revoked:
			out.refusal = refuse(RuleRevokedOCSP, cert, fmt.Errorf("%w at %s (OCSP %s)", ErrRevoked,
				resp.RevokedAt.UTC().Format(time.RFC3339), url))
			return out
		default:
			out.problems = append(out.problems, fmt.Errorf("ocsp %s: status unknown", url))
		}
	}
	return out
}

func httpURLs(urls []string) []string {
	var out []string
	for _, u := range urls {
		if strings.HasPrefix(strings.ToLower(u), "http://") || strings.HasPrefix(strings.ToLower(u), "https://") {
			out = append(out, u)
		}
	}
	return out
}

// ocsp asks responder url for the status of cert and checks the answer: signed by the issuer or
// by a responder it delegated (OCSP signing usage), for this certificate, and fresh.
func (r *revocationChecker) ocsp(ctx context.Context, url string, cert, issuer *x509.Certificate) (*ocsp.Response, error) {
	reqDER, err := ocsp.CreateRequest(cert, issuer, &ocsp.RequestOptions{Hash: crypto.SHA1})
	if err != nil {
		return nil, err
	}
	body, err := r.fetch(ctx, http.MethodPost, url, reqDER, 1<<20)
	if err != nil {
		return nil, err
	}
	resp, err := ocsp.ParseResponseForCert(body, cert, issuer)
	if err != nil {
		return nil, err
	}
	if resp.Certificate != nil && !bytes.Equal(resp.Certificate.Raw, issuer.Raw) &&
		!slices.Contains(resp.Certificate.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
		return nil, errors.New("responder certificate not authorised for OCSP signing")
	}
	now := r.now()
	switch {
	case resp.ThisUpdate.After(now.Add(clockSkew)):
		return nil, fmt.Errorf("answer from the future (thisUpdate %s)", resp.ThisUpdate.UTC().Format(time.RFC3339))
	case !resp.NextUpdate.IsZero() && !now.Before(resp.NextUpdate):
		return nil, fmt.Errorf("stale answer (nextUpdate %s)", resp.NextUpdate.UTC().Format(time.RFC3339))
	case resp.NextUpdate.IsZero() && now.Sub(resp.ThisUpdate) > r.ocspMaxAge:
		return nil, fmt.Errorf("stale answer (thisUpdate %s)", resp.ThisUpdate.UTC().Format(time.RFC3339))
	}
	return resp, nil
}

// crl returns a valid CRL of url issued by issuer: the cached one while younger than the refresh
// period, else a fresh download, else (download failed) the cached one until its nextUpdate.
func (r *revocationChecker) crl(ctx context.Context, url string, issuer *x509.Certificate) (*cachedCRL, error) {
	cached := r.cached(url, issuer)
	if cached != nil && r.refresh > 0 && r.now().Sub(cached.fetched) < r.refresh {
		return cached, nil
	}
	der, err := r.fetch(ctx, http.MethodGet, url, nil, r.maxCRL)
	var crl *x509.RevocationList
	if err == nil {
		crl, err = r.validCRL(der, issuer)
	}
	if err == nil {
		return r.store(url, crl, issuer), nil
	}
	if cached != nil {
		r.log.Warn("crl download failed, using the cached crl until its nextUpdate (ECO.1.1.7)",
			"url", url, "next_update", cached.crl.NextUpdate, "err", err)
		return cached, nil
	}
	return nil, fmt.Errorf("%w, and no valid cached CRL", err)
}

// validCRL parses der (DER or PEM) and checks issuer, signature and validity period.
func (r *revocationChecker) validCRL(der []byte, issuer *x509.Certificate) (*x509.RevocationList, error) {
	if b, _ := pem.Decode(der); b != nil && b.Type == "X509 CRL" {
		der = b.Bytes
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, err
	}
	if err := r.checkCRL(crl, issuer, true); err != nil {
		return nil, err
	}
	return crl, nil
}

// checkCRL checks the issuer, the signature (when sig) and the validity period of crl at Now.
func (r *revocationChecker) checkCRL(crl *x509.RevocationList, issuer *x509.Certificate, sig bool) error {
	if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) {
		return fmt.Errorf("crl issued by %s, not by %s", crl.Issuer, issuer.Subject)
	}
	if sig {
		if err := crl.CheckSignatureFrom(issuer); err != nil {
			return fmt.Errorf("crl signature: %w", err)
		}
	}
	now := r.now()
	if crl.ThisUpdate.After(now.Add(clockSkew)) {
		return fmt.Errorf("crl from the future (thisUpdate %s)", crl.ThisUpdate.UTC().Format(time.RFC3339))
	}
	if crl.NextUpdate.IsZero() || !now.Before(crl.NextUpdate) {
		return fmt.Errorf("crl expired (nextUpdate %s)", crl.NextUpdate.UTC().Format(time.RFC3339))
	}
	return nil
}

// cached returns the valid cached CRL of url for issuer, from memory or from the cache directory,
// or nil. The signature is verified once per issuer; issuer and validity period at every use.
func (r *revocationChecker) cached(url string, issuer *x509.Certificate) *cachedCRL {
	fp := Fingerprint(issuer)
	r.mu.Lock()
	c := r.mem[url]
	r.mu.Unlock()
	if c != nil {
		if r.checkCRL(c.crl, issuer, c.issuerFP != fp) != nil {
			return nil
		}
		return c
	}
	if r.cacheDir == "" {
		return nil
	}
	path := r.cachePath(url)
	st, err := os.Stat(path)
	if err != nil || st.Size() > r.maxCRL {
		return nil
	}
	der, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	crl, err := r.validCRL(der, issuer)
	if err != nil {
		return nil
	}
	c = newCachedCRL(crl, st.ModTime(), fp)
	r.mu.Lock()
	r.mem[url] = c
	r.mu.Unlock()
	return c
}

// store keeps a verified CRL in memory and in the cache directory.
func (r *revocationChecker) store(url string, crl *x509.RevocationList, issuer *x509.Certificate) *cachedCRL {
	now := r.now()
	c := newCachedCRL(crl, now, Fingerprint(issuer))
	r.mu.Lock()
	r.mem[url] = c
	r.mu.Unlock()
	if r.cacheDir == "" {
		return c
	}
	err := os.MkdirAll(r.cacheDir, 0o755)
	if err == nil {
		err = writeFileAtomic(r.cachePath(url), crl.Raw, 0o644)
	}
	if err == nil {
		err = os.Chtimes(r.cachePath(url), now, now)
	}
	if err != nil {
		r.log.Warn("crl cache not written", "url", url, "err", err)
	}
	return c
}

// cachePath names the cache file of a distribution point: the SHA-256 of its URL.
func (r *revocationChecker) cachePath(url string) string {
	sum := sha256.Sum256([]byte(url))
	return filepath.Join(r.cacheDir, hex.EncodeToString(sum[:16])+".crl")
}

// fetch GETs (or POSTs an OCSP request to) url and returns at most limit bytes of a 200 answer.
func (r *revocationChecker) fetch(ctx context.Context, method, url string, body []byte, limit int64) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/ocsp-request")
		req.Header.Set("Accept", "application/ocsp-response")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("http status %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("answer larger than %d bytes", limit)
	}
	return data, nil
}
