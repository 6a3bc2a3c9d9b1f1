package ldapdir

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/testkit"
)

// testDirectory is a private OpenLDAP server loaded with testdata/directory.ldif.
type testDirectory struct {
	URL            string
	BaseDN         string
	ReaderDN       string
	ReaderPassword string
}

const suffix = "dc=annuaire,dc=test"

// startSlapd starts slapd on 127.0.0.1 with a private mdb database in t.TempDir(), loads the test
// LDIF with ldapadd as the rootdn, and stops the server in t.Cleanup. It skips (fails in CI) when
// slapd or ldapadd is missing.
func startSlapd(t *testing.T) testDirectory {
	t.Helper()
	slapd := findProgram(t, "slapd")
	ldapadd := findProgram(t, "ldapadd")
	for _, s := range []string{"core", "cosine", "inetorgperson"} {
		testkit.RequireFile(t, "/etc/ldap/schema/"+s+".schema")
	}
	dir := t.TempDir()
	rootPW, readerPW := randomSecret(t), randomSecret(t)
	conf := filepath.Join(dir, "slapd.conf")
	writeFile(t, conf, slapdConf(dir, rootPW))
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	url := launchSlapd(t, slapd, dir, conf)
	ldif, err := os.ReadFile(filepath.Join("testdata", "directory.ldif"))
	if err != nil {
		t.Fatal(err)
	}
	ldifPath, pwPath := filepath.Join(dir, "directory.ldif"), filepath.Join(dir, "rootpw")
	writeFile(t, ldifPath, strings.ReplaceAll(string(ldif), "{{READER_PASSWORD}}", readerPW))
	writeFile(t, pwPath, rootPW)
	out, err := exec.Command(ldapadd, "-x", "-H", url, "-D", "cn=admin,"+suffix, "-y", pwPath, "-f", ldifPath).CombinedOutput()
	if err != nil {
		t.Fatalf("ldapadd: %v\n%s", err, out)
	}
	return testDirectory{URL: url, BaseDN: suffix, ReaderDN: "cn=lecteur," + suffix, ReaderPassword: readerPW}
}

// launchSlapd starts slapd with the configuration conf on a free port of 127.0.0.1, stops it in
// t.Cleanup, and returns its URL.
func launchSlapd(t *testing.T, slapd, dir, conf string) string {
	t.Helper()
	var port int
	var cmd *exec.Cmd
	var lastErr error
	for attempt := 0; attempt < 3 && cmd == nil; attempt++ {
		port = freePort(t)
		c := exec.Command(slapd, "-h", fmt.Sprintf("ldap://127.0.0.1:%d/", port), "-f", conf, "-d", "0")
		logFile, err := os.Create(filepath.Join(dir, fmt.Sprintf("slapd-%d.log", attempt)))
		if err != nil {
			t.Fatal(err)
		}
		c.Stdout, c.Stderr = logFile, logFile
		if err := c.Start(); err != nil {
			t.Fatalf("start slapd: %v", err)
		}
		if lastErr = waitListening(port, 10*time.Second); lastErr == nil {
			cmd = c
			t.Cleanup(func() { stop(t, c); _ = logFile.Close() })
			break
		}
		stop(t, c)
		_ = logFile.Close()
		log, _ := os.ReadFile(logFile.Name())
		lastErr = fmt.Errorf("%v; log: %s", lastErr, log)
	}
	if cmd == nil {
		t.Fatalf("slapd did not start: %v", lastErr)
	}
	return fmt.Sprintf("ldap://127.0.0.1:%d/", port)
}

func slapdConf(dir, rootPW string) string {
	var b strings.Builder
	for _, s := range []string{"core", "cosine", "inetorgperson"} {
		fmt.Fprintf(&b, "include /etc/ldap/schema/%s.schema\n", s)
	}
	fmt.Fprintf(&b, "pidfile %s/slapd.pid\nargsfile %s/slapd.args\n", dir, dir)
	if _, err := os.Stat("/usr/lib/ldap/back_mdb.so"); err == nil {
		b.WriteString("modulepath /usr/lib/ldap\nmoduleload back_mdb\n")
	}
	fmt.Fprintf(&b, `database mdb
maxsize 16777216
suffix "%[1]s"
rootdn "cn=admin,%[1]s"
rootpw %[2]s
directory %[3]s/db
access to attrs=userPassword by anonymous auth by * none
access to dn.subtree="ou=restreint,%[1]s" by users read by * none
access to * by * read
`, suffix, rootPW, dir)
	return b.String()
}

// findProgram looks in PATH, then in /usr/sbin (slapd lives there and PATH may lack it).
func findProgram(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin"} {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return filepath.Join(d, name)
		}
	}
	return testkit.LookPath(t, name)
}

func stop(t *testing.T, c *exec.Cmd) {
	_ = c.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.Process.Kill()
		<-done
		t.Logf("slapd killed after 5 s")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func waitListening(port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func randomSecret(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
