package trust

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"time"
)

// UpdateOptions configures Update.
type UpdateOptions struct {
	// Profile whose pinned certificates are kept (default production).
	Profile Profile
	// URL of the PKCS #7 bundle (default PublicationURL(Profile)). Ignored when From is set.
	URL string
	// From is a file (PEM, DER, .p7b) or a directory of such files to read instead of
	// downloading.
	From string
	// Dir is the anchors directory to write (<data-dir>/trust).
	Dir string
	// HTTPClient downloads the bundle (default: 30 s timeout).
	HTTPClient *http.Client
}

// UpdateResult reports what Update found and kept.
type UpdateResult struct {
	Source  string   // URL or path read
	Found   int      // certificates in the source
	Kept    []Anchor // pinned certificates of the profile, written to Dir
	Missing []Pin    // pins of the profile not found in the source
}

// maxBundle bounds a downloaded bundle.
const maxBundle = 8 << 20

// Update fetches the IGC Santé certificate bundle (or reads From), keeps only the certificates
// whose SHA-256 fingerprint is pinned for the profile, and writes them to Dir. It fails when the
// profile's root or ORGANISATIONS intermediate is missing from the source, writing nothing.
func Update(ctx context.Context, o UpdateOptions) (*UpdateResult, error) {
	if o.Profile == "" {
		o.Profile = ProfileProduction
	}
	if _, err := ParseProfile(string(o.Profile)); err != nil {
		return nil, err
	}
	if o.Dir == "" {
		return nil, fmt.Errorf("no anchors directory")
	}
	res := &UpdateResult{}
	all, src, err := readSource(ctx, o)
	if err != nil {
		return nil, err
	}
	res.Source, res.Found = src, len(all)
	res.Kept = SelectPinned(all, o.Profile)
	kept := map[string]bool{}
	for _, a := range res.Kept {
		kept[a.Pin.SHA256] = true
	}
	for _, p := range Pins {
		if p.Profile == o.Profile && !kept[p.SHA256] {
			res.Missing = append(res.Missing, p)
		}
	}
	if len(res.Missing) > 0 {
		return res, fmt.Errorf("%s: %d of the pinned %s certificates missing (first: %s, sha256 %s)",
			src, len(res.Missing), o.Profile, res.Missing[0].CN, res.Missing[0].SHA256)
	}
	if err := SaveAnchors(o.Dir, res.Kept); err != nil {
		return res, err
	}
	return res, nil
}

func readSource(ctx context.Context, o UpdateOptions) ([]*x509.Certificate, string, error) {
	if o.From != "" {
		certs, err := ReadCertificates(o.From)
		return certs, o.From, err
	}
	url := o.URL
	if url == "" {
		url = PublicationURL(o.Profile)
	}
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, url, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, url, fmt.Errorf("download %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, url, fmt.Errorf("download %s: http status %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBundle+1))
	if err != nil {
		return nil, url, fmt.Errorf("download %s: %w", url, err)
	}
	if len(data) > maxBundle {
		return nil, url, fmt.Errorf("download %s: larger than %d bytes", url, maxBundle)
	}
	certs, err := ParseCertificates(data)
	if err != nil {
		return nil, url, fmt.Errorf("%s: %w", url, err)
	}
	return certs, url, nil
}
