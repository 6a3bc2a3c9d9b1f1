package mailstore

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/testkit"
	"github.com/mssante/mssante/internal/testpki"
)

// TestSyncVsMbsync is a measurement, not a check: with MSSANTE_SYNC_VS_MBSYNC=N it fills a Dovecot
// INBOX with N messages (about 39 KB each on average, as the 10,000 / 390 MB mailbox of issue 9;
// one CDA mail in ten) and runs, in the same run and alternately, `mbsync` (isync) and the
// `mssante sync` binary over STARTTLS with a client certificate (PLAIN of an applicative mailbox),
// each into an empty store, under /usr/bin/time -v: wall time and peak RSS are logged.
// bench/transport.sh is the full comparison.
//
//	MSSANTE_SYNC_VS_MBSYNC=2000 go test -run TestSyncVsMbsync -v ./internal/mailstore/
func TestSyncVsMbsync(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("MSSANTE_SYNC_VS_MBSYNC"))
	if n <= 0 {
		t.Skip("MSSANTE_SYNC_VS_MBSYNC not set: a measurement run on demand")
	}
	for _, p := range []string{"mbsync", "/usr/bin/time"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not installed", p)
		}
	}
	const appli = "dpi@test.mssante.fr"
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	st := peertest.Start(t, peertest.Options{PKI: pki, NoPostfix: true, AppUsers: []string{appli}})
	dir := t.TempDir()
	_, key, chain := pki.Client("499700000000001", appli).WriteFiles(t, dir, "client")
	root := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(root, pki.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	bytesIn := fillMaildir(t, st, appli, n)
	// Dovecot indexes the new files and the page cache holds them before either client runs.
	out, err := exec.Command("doveadm", "-c", filepath.Join(st.Dir, "dovecot.conf"), "fetch", "-u", appli,
		"uid size.physical text", "mailbox", "INBOX").Output()
	if err != nil {
		t.Fatalf("doveadm fetch: %v", err)
	}
	t.Logf("mailbox: %d messages, %.1f MB (doveadm fetch %d bytes)", n, float64(bytesIn)/1e6, len(out))

	bin := filepath.Join(dir, "mssante")
	build := exec.Command("go", "build", "-o", bin, "./cmd/mssante")
	build.Dir = testkit.ModuleRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	_, port, _ := strings.Cut(st.IMAP, ":")
	for round := 1; round <= 2; round++ {
		md := filepath.Join(dir, fmt.Sprintf("mbsync%d", round))
		cfg := filepath.Join(dir, fmt.Sprintf("mbsyncrc%d", round))
		if err := os.MkdirAll(md, 0o700); err != nil {
			t.Fatal(err)
		}
		rc := fmt.Sprintf(`IMAPAccount peer
Host localhost
Port %s
User %s
Pass unused
AuthMechs PLAIN
SSLType STARTTLS
CertificateFile %s
ClientCertificate %s
ClientKey %s

IMAPStore remote
Account peer

MaildirStore local
Path %s/
Inbox %s/INBOX

Channel c
Far :remote:
Near :local:
Patterns INBOX
Create Near
Sync Pull
SyncState *
`, port, appli, filepath.Join(st.Dir, "tls", "ca.pem"), chain, key, md, md)
		if err := os.WriteFile(cfg, []byte(rc), 0o600); err != nil {
			t.Fatal(err)
		}
		wall, rss, _ := timed(t, "mbsync", "-c", cfg, "-a")
		got := countFiles(t, filepath.Join(md, "INBOX"))
		t.Logf("round %d mbsync:        %6.2f s, %6.0f msg/s, peak RSS %5.1f MiB, %d messages", round, wall, float64(n)/wall, rss, got)
		if got != n {
			t.Errorf("mbsync stored %d messages, want %d", got, n)
		}

		data := filepath.Join(dir, fmt.Sprintf("data%d", round))
		wall, rss, output := timed(t, bin, "sync", "--account", appli, "--cert", chain, "--key", key, "--imap", st.IMAP,
			"--trust-root", root, "--data-dir", data, "--folder", "INBOX")
		if os.Getenv("MSSANTE_SYNC_VS_MBSYNC_LOG") != "" {
			t.Log(output)
		}
		t.Logf("round %d mssante sync:  %6.2f s, %6.0f msg/s, peak RSS %5.1f MiB", round, wall, float64(n)/wall, rss)
		if !strings.Contains(output, fmt.Sprintf(`"new": %d,`, n)) {
			t.Errorf("mssante sync did not store %d messages:\n%s", n, output)
		}
		if base := os.Getenv("MSSANTE_SYNC_VS_MBSYNC_BASE"); base != "" { // another build, e.g. of main
			wall, rss, output := timed(t, base, "sync", "--account", appli, "--cert", chain, "--key", key, "--imap", st.IMAP,
				"--trust-root", root, "--data-dir", data+"-base", "--folder", "INBOX")
			t.Logf("round %d %s sync: %6.2f s, %6.0f msg/s, peak RSS %5.1f MiB", round, base, wall, float64(n)/wall, rss)
			if !strings.Contains(output, fmt.Sprintf(`"new": %d,`, n)) {
				t.Errorf("%s sync did not store %d messages:\n%s", base, n, output)
			}
		}
		if round == 2 { // the floor: the same command with nothing new
			wall, rss, _ := timed(t, bin, "sync", "--account", appli, "--cert", chain, "--key", key, "--imap", st.IMAP,
				"--trust-root", root, "--data-dir", data, "--folder", "INBOX")
			t.Logf("mssante sync, up to date: %6.2f s, peak RSS %5.1f MiB", wall, rss)
		}
	}
}

// timed runs the command under /usr/bin/time -v and returns its wall time (s), peak RSS (MiB) and
// its output with time's report.
func timed(t *testing.T, name string, args ...string) (wall, rssMiB float64, output string) {
	t.Helper()
	cmd := exec.Command("/usr/bin/time", append([]string{"-v", name}, args...)...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, stderr.String())
	}
	wall = time.Since(start).Seconds()
	m := regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no peak RSS in:\n%s", stderr.String())
	}
	kb, _ := strconv.ParseFloat(m[1], 64)
	return wall, kb / 1024, stderr.String()
}

// fillMaildir writes n messages straight into the Dovecot Maildir of user's INBOX (doveadm save
// would take minutes) and returns their total size.
func fillMaildir(t *testing.T, st *peertest.Stack, user string, n int) int64 {
	t.Helper()
	local, domain, _ := strings.Cut(user, "@")
	box := filepath.Join(st.Dir, "mail", domain, local)
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(box, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	r := rand.New(rand.NewChaCha8([32]byte{'m', 'b', 's', 'y', 'n', 'c'}))
	line := "Compte rendu de consultation : patiente vue ce jour, examen clinique sans particularité, données synthétiques.\r\n"
	var total int64
	for i := range n {
		var raw []byte
		if i%10 == 0 {
			raw = cdaMail(t, "n3-cr-biologie.xml", byte(i), t0.Add(time.Duration(i)*time.Minute)).Data
		} else {
			size := 2000 + r.IntN(70000) // 2 KB to 72 KB, 37 KB on average
			raw = plainMail(drDupont, "Dr Jean DUPONT", fmt.Sprintf("Avis n°%d", i), fmt.Sprintf("perf-%d@x", i),
				t0.Add(time.Duration(i)*time.Minute), strings.Repeat(line, size/len(line)+1))
		}
		total += int64(len(raw))
		name := filepath.Join(box, "new", fmt.Sprintf("%d.M%dP1.peertest", 1700000000+i, i))
		if err := os.WriteFile(name, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("chown", "-R", "65534:65534", filepath.Join(st.Dir, "mail", domain)).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	return total
}

func countFiles(t *testing.T, maildir string) int {
	t.Helper()
	n := 0
	for _, d := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(maildir, d))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		n += len(ents)
	}
	return n
}
