package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mssante/mssante/autoconfig"
	"github.com/mssante/mssante/internal/testkit"
)

// localhostAddr is addr with its loopback IP replaced by localhost, as autoconfig hands it out.
func localhostAddr(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("localhost", port)
}

// Issue 11 item 4: autoconfig hands out a host name that the server certificate names as a DNS
// name (clients such as mbsync ignore IP SANs), never a bare loopback IP.
func TestAutoconfig_hostNameInCertificate(t *testing.T) {
	w := world(t)
	a := account(t, w, "applicative", false)
	cfg, err := autoconfig.Discover(context.Background(), a.Address, autoconfig.Options{BaseURL: w.Env().AutoconfigURL,
		HTTPClient: policy(t, w).AutoconfigHTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := cfg.Select(autoconfig.FamilyApplicative)
	if err != nil {
		t.Fatal(err)
	}
	leaf := w.pki.server.Leaf
	for _, srv := range []autoconfig.Server{s.IMAP, s.SMTP} {
		if net.ParseIP(srv.Host) != nil {
			t.Errorf("%s host %q is an IP address", srv.Protocol, srv.Host)
		}
		found := false
		for _, n := range leaf.DNSNames {
			found = found || strings.EqualFold(n, srv.Host)
		}
		if !found {
			t.Errorf("%s host %q is not a DNS name of the server certificate %v", srv.Protocol, srv.Host, leaf.DNSNames)
		}
	}
}

// mbsync (isync 1.4), a client nobody here wrote, syncs the applicative mailbox with the host and
// port autoconfig gives, verifying the server certificate against the test root; with the bare IP
// it refuses the certificate, which is why autoconfig must not hand it out.
func TestAutoconfig_mbsync(t *testing.T) {
	bin, err := exec.LookPath("mbsync")
	if err != nil {
		if testkit.PeersRequired() {
			t.Fatal("mbsync (isync) is not installed")
		}
		t.Skip("mbsync (isync) is not installed")
	}
	w := world(t)
	a := account(t, w, "applicative", false)
	cfg, err := autoconfig.Discover(context.Background(), a.Address, autoconfig.Options{BaseURL: w.Env().AutoconfigURL,
		HTTPClient: policy(t, w).AutoconfigHTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := cfg.Select(autoconfig.FamilyApplicative)
	if err != nil {
		t.Fatal(err)
	}
	sync := func(host string) (string, error) {
		dir := t.TempDir()
		rc := filepath.Join(dir, "mbsyncrc")
		if err := os.MkdirAll(filepath.Join(dir, "mail"), 0o700); err != nil {
			t.Fatal(err)
		}
		conf := fmt.Sprintf(`IMAPAccount app
Host %s
Port %d
User %s
Pass unused
AuthMechs PLAIN
SSLType STARTTLS
CertificateFile %s
ClientCertificate %s
ClientKey %s

IMAPStore far
Account app

MaildirStore near
Path %s/mail/
Inbox %s/mail/INBOX

Channel c
Far :far:
Near :near:
Patterns INBOX
Create Near
Sync Pull
SyncState *
`, host, s.IMAP.Port, s.IMAP.Username, w.TrustRoot(), a.Cert, a.Key, dir, dir)
		if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(t.Context(), bin, "-c", rc, "-a")
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := sync(s.IMAP.Host); err != nil {
		t.Errorf("mbsync with the autoconfig host %s: %v\n%s", s.IMAP.Host, err, out)
	}
	if out, err := sync("127.0.0.1"); err == nil || !strings.Contains(strings.ToLower(out), "certificate") {
		t.Errorf("mbsync with the bare IP: %v, want a certificate refusal (else the IP would do):\n%s", err, out)
	}
}

// `sandbox env` reads the data directory whether the sandbox runs or not: Running tells which.
func TestEnvOf_running(t *testing.T) {
	dir := t.TempDir()
	w := startWorld(t, dir, true)
	if e, err := EnvOf(dir); err != nil || !e.Running {
		t.Errorf("EnvOf while running: %+v %v, want running", e, err)
	}
	if running, pid := Running(dir); !running || pid != os.Getpid() {
		t.Errorf("Running = %v, %d, want true, %d", running, pid, os.Getpid())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if e, err := EnvOf(dir); err != nil || e.Running {
		t.Errorf("EnvOf once stopped: running %v, %v", e != nil && e.Running, err)
	}
}

// A second start on a running sandbox's data directory says where the running one listens.
func TestStart_secondSaysWhere(t *testing.T) {
	dir := t.TempDir()
	w := startWorld(t, dir, true)
	_, err := Start(context.Background(), Options{DataDir: dir})
	if !errors.Is(err, ErrRunning) {
		t.Fatalf("second Start: %v, want ErrRunning", err)
	}
	for _, want := range []string{w.Config.IMAP, w.Config.SMTP, "https://" + w.Config.HTTPS, "sandbox env"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	var pe *PortError
	if errors.As(err, &pe) {
		t.Errorf("second start failed on a port (%v): the lock must come first", pe)
	}
}
