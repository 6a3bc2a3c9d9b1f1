package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mssante/mssante/internal/config"
	"github.com/mssante/mssante/trust"
)

// Trust commands: the IGC Santé anchors (`trust update`, `trust show`) and a check of a server
// against the TLS policy (`trust verify`), issue 3 item 1.

func init() {
	register(&command{
		name:    "trust update",
		summary: "fetch the IGC Santé certificates and keep the pinned ones in <data-dir>/trust",
		usage:   "trust update [--profile production|test] [--url URL] [--from FILE|DIR] [--data-dir DIR]",
		example: "mssante trust update --profile test --from ./igc-sante-test/",
		flags: func(fs *flag.FlagSet) runFunc {
			url := fs.String("url", "", "`URL` of the PKCS #7 bundle (default: the ANS publication point of the profile)")
			from := fs.String("from", "", "read the certificates from this `file or directory` (PEM, DER, .p7b) instead of downloading")
			conf := useConfig(fs, "trust.profile", "data_dir")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				cfg, err := conf()
				if err != nil {
					return err
				}
				prof, err := trust.ParseProfile(cfg.Trust.Profile)
				if err != nil {
					return usagef("--profile: %v", err)
				}
				if *url != "" && *from != "" {
					return usagef("--url and --from are exclusive")
				}
				dir := filepath.Join(cfg.DataDir, "trust")
				res, err := trust.Update(ctx, trust.UpdateOptions{Profile: prof, URL: *url, From: *from, Dir: dir})
				if err != nil {
					return fmt.Errorf("trust update: %w", err)
				}
				return writeJSON(env.stdout, trustUpdateOutput{Profile: string(prof), Source: res.Source, Found: res.Found,
					Dir: dir, Kept: anchorsJSON(res.Kept, dir)})
			}
		},
	})
	register(&command{
		name:    "trust show",
		summary: "show the TLS policy and the IGC Santé anchors in use",
		usage:   "trust show [--profile production|test] [--data-dir DIR]",
		example: "mssante trust show --profile test",
		flags: func(fs *flag.FlagSet) runFunc {
			conf := useConfig(fs, "trust.profile", "data_dir")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				cfg, err := conf()
				if err != nil {
					return err
				}
				prof, err := trust.ParseProfile(cfg.Trust.Profile)
				if err != nil {
					return usagef("--profile: %v", err)
				}
				return runTrustShow(env, prof, filepath.Join(cfg.DataDir, "trust"))
			}
		},
	})
	register(&command{
		name:    "trust verify",
		summary: "connect to a server and check it against the TLS policy (versions, suites, IGC Santé, revocation)",
		usage:   "trust verify HOST:PORT [--starttls smtp|imap] [--server-name NAME] [--profile production|test] [--trust-root PEM]… [--data-dir DIR]",
		example: "mssante trust verify smtp.test.mssante.fr:587 --starttls smtp --profile test",
		flags: func(fs *flag.FlagSet) runFunc {
			starttls := fs.String("starttls", "", "`protocol` to switch to TLS first: smtp or imap (default: imap on port 143, smtp on 587 and 25, else TLS at once)")
			serverName := fs.String("server-name", "", "`name` to check in the certificate (default: the host)")
			timeout := fs.Duration("timeout", 30*time.Second, "`duration` of the whole check")
			conf := useConfig(fs, "trust.profile", "trust.roots", "data_dir")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 1 {
					return usagef("one HOST:PORT expected")
				}
				cfg, err := conf()
				if err != nil {
					return err
				}
				host, port, err := net.SplitHostPort(args[0])
				if err != nil {
					return usagef("%q: %v", args[0], err)
				}
				if *starttls == "" {
					*starttls = defaultStartTLS(port)
				}
				if *starttls != "" && *starttls != "smtp" && *starttls != "imap" {
					return usagef("--starttls must be smtp or imap")
				}
				pol, err := trustPolicy(cfg, env.stderr)
				if err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(ctx, *timeout)
				defer cancel()
				return runTrustVerify(ctx, env, pol, args[0], firstNonEmpty(*serverName, host), *starttls)
			}
		},
	})
}

// defaultStartTLS is the STARTTLS protocol of a well-known port: the API LPS ports 143 and 587
// are STARTTLS ones (ECO.1.0.1, ECO.1.0.2), and so is 25; other ports get TLS at once.
func defaultStartTLS(port string) string {
	switch port {
	case "143":
		return "imap"
	case "587", "25":
		return "smtp"
	}
	return ""
}

type anchorJSON struct {
	Name     string `json:"name"`
	CN       string `json:"cn"`
	Profile  string `json:"profile"`
	Role     string `json:"role"`
	SHA256   string `json:"sha256"`
	NotAfter string `json:"not_after,omitempty"`
	File     string `json:"file,omitempty"`
}

type trustUpdateOutput struct {
	Profile string       `json:"profile"`
	Source  string       `json:"source"`
	Found   int          `json:"found"`
	Dir     string       `json:"dir"`
	Kept    []anchorJSON `json:"kept"`
}

func anchorsJSON(anchors []trust.Anchor, dir string) []anchorJSON {
	out := make([]anchorJSON, 0, len(anchors))
	for _, a := range anchors {
		out = append(out, anchorJSON{Name: a.Pin.Name, CN: a.Pin.CN, Profile: string(a.Pin.Profile), Role: string(a.Pin.Role),
			SHA256: a.Pin.SHA256, NotAfter: a.Cert.NotAfter.UTC().Format(time.RFC3339), File: filepath.Join(dir, a.Pin.Name+".pem")})
	}
	return out
}

type trustShowOutput struct {
	Profile    string       `json:"profile"`
	Dir        string       `json:"dir"`
	Ready      bool         `json:"ready"`
	Anchors    []anchorJSON `json:"anchors"`
	Missing    []anchorJSON `json:"missing"`
	MinVersion string       `json:"min_version"`
	MaxVersion string       `json:"max_version"`
	Suites     []string     `json:"tls12_suites"`
	Curves     []string     `json:"curves"`
	Revocation string       `json:"revocation"`
}

func runTrustShow(env *cmdEnv, prof trust.Profile, dir string) error {
	anchors, err := trust.LoadAnchors(dir, prof)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	out := trustShowOutput{Profile: string(prof), Dir: dir, Anchors: anchorsJSON(anchors, dir), Missing: []anchorJSON{},
		MinVersion: "TLS 1.2", MaxVersion: "TLS 1.3",
		Revocation: "CRL (cached copy until its nextUpdate when the download fails) and OCSP (a revoked answer refuses); refused when unknown"}
	have := map[string]bool{}
	for _, a := range anchors {
		have[a.Pin.SHA256] = true
	}
	for _, p := range trust.Pins {
		if p.Profile == prof && !have[p.SHA256] {
			out.Missing = append(out.Missing, anchorJSON{Name: p.Name, CN: p.CN, Profile: string(p.Profile), Role: string(p.Role), SHA256: p.SHA256})
		}
	}
	out.Ready = len(out.Missing) == 0
	for _, s := range trust.Suites {
		out.Suites = append(out.Suites, fmt.Sprintf("0x%04X %s", s, tls.CipherSuiteName(s)))
	}
	for _, c := range trust.Curves {
		out.Curves = append(out.Curves, c.String())
	}
	return writeJSON(env.stdout, out)
}

// trustPolicy builds the TLS policy of a command from its configuration: the IGC Santé anchors
// of the profile from <data-dir>/trust, or the trust.roots certificates (a relaxation, logged on
// stderr), revocation with the CRL cache in <data-dir>/crl (or skipped: a relaxation too).
func trustPolicy(cfg *config.Config, stderr io.Writer) (*trust.Policy, error) {
	prof, err := trust.ParseProfile(cfg.Trust.Profile)
	if err != nil {
		return nil, usagef("--profile: %v", err)
	}
	dataDir := cfg.DataDir
	o := trust.Options{Profile: prof, AnchorsDir: filepath.Join(dataDir, "trust"), CRLCacheDir: filepath.Join(dataDir, "crl"),
		CRLRefresh: cfg.Trust.CRLRefreshOption(), SkipRevocation: cfg.Trust.SkipRevocation,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	for _, f := range cfg.Trust.Roots {
		certs, err := trust.ReadCertificates(f)
		if err != nil {
			return nil, fmt.Errorf("--trust-root %s: %w", f, err)
		}
		o.ExtraRoots = append(o.ExtraRoots, certs...)
	}
	if err := os.MkdirAll(o.CRLCacheDir, 0o700); err != nil {
		return nil, err
	}
	return trust.New(o)
}

type trustVerifyOutput struct {
	Server      string   `json:"server"`
	ServerName  string   `json:"server_name"`
	StartTLS    string   `json:"starttls,omitempty"`
	TLSVersion  string   `json:"tls_version"`
	CipherSuite string   `json:"cipher_suite"`
	Chain       []string `json:"chain"`
	Accepted    bool     `json:"accepted"`
}

func runTrustVerify(ctx context.Context, env *cmdEnv, pol *trust.Policy, addr, serverName, starttls string) error {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if err := startTLSCommand(conn, starttls); err != nil {
		return fmt.Errorf("%s starttls: %w", addr, err)
	}
	tc, err := pol.Handshake(ctx, conn, serverName, nil)
	if err != nil {
		if starttls == "" && strings.Contains(err.Error(), "does not look like a TLS handshake") {
			return fmt.Errorf("%w (the server speaks cleartext first: add --starttls imap or --starttls smtp)", err)
		}
		return err
	}
	cs := tc.ConnectionState()
	out := trustVerifyOutput{Server: addr, ServerName: serverName, StartTLS: starttls, TLSVersion: tls.VersionName(cs.Version),
		CipherSuite: tls.CipherSuiteName(cs.CipherSuite), Accepted: true}
	if len(cs.VerifiedChains) > 0 {
		for _, c := range longestChain(cs.VerifiedChains) {
			out.Chain = append(out.Chain, c.Subject.String())
		}
	}
	return writeJSON(env.stdout, out)
}

func longestChain(chains [][]*x509.Certificate) []*x509.Certificate {
	var best []*x509.Certificate
	for _, c := range chains {
		if len(c) > len(best) {
			best = c
		}
	}
	return best
}

// startTLSCommand runs the plaintext prelude of SMTP (RFC 3207) or IMAP (RFC 3501 §6.2.1) STARTTLS
// on conn; nothing for "". The server sends nothing after its go-ahead, so no data is lost.
func startTLSCommand(conn net.Conn, protocol string) error {
	r := bufio.NewReader(io.LimitReader(conn, 1<<20))
	switch protocol {
	case "":
		return nil
	case "smtp":
		if _, err := smtpReply(r, "220"); err != nil {
			return fmt.Errorf("greeting: %w", err)
		}
		if _, err := io.WriteString(conn, "EHLO mssante.invalid\r\n"); err != nil {
			return err
		}
		ehlo, err := smtpReply(r, "250")
		if err != nil {
			return fmt.Errorf("EHLO: %w", err)
		}
		if !strings.Contains(strings.ToUpper(ehlo), "STARTTLS") {
			return errors.New("the server does not offer STARTTLS")
		}
		if _, err := io.WriteString(conn, "STARTTLS\r\n"); err != nil {
			return err
		}
		_, err = smtpReply(r, "220")
		return err
	case "imap":
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "* OK") {
			return fmt.Errorf("greeting %q", strings.TrimSpace(line))
		}
		if _, err := io.WriteString(conn, "a1 STARTTLS\r\n"); err != nil {
			return err
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if strings.HasPrefix(line, "a1 ") {
				if !strings.HasPrefix(line, "a1 OK") {
					return fmt.Errorf("STARTTLS refused: %q", strings.TrimSpace(line))
				}
				return nil
			}
		}
	}
	return fmt.Errorf("unknown protocol %q", protocol)
}

// smtpReply reads one (multi-line) SMTP reply and checks its code.
func smtpReply(r *bufio.Reader, code string) (string, error) {
	var all strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return all.String(), err
		}
		all.WriteString(line)
		if len(line) < 4 || line[:3] != code {
			return all.String(), fmt.Errorf("reply %q, want %s", strings.TrimSpace(line), code)
		}
		if line[3] == ' ' || line[3] == '\r' || line[3] == '\n' {
			return all.String(), nil
		}
	}
}
