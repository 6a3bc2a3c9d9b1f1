// Command transportbench supports bench/transport.sh: it runs the project's own Dovecot and
// Postfix (internal/peertest) with an applicative mailbox full of a synthetic corpus, and writes
// the files the peer clients need; it also generates the messages to submit and summarises
// Maildirs so that the script can check that every client ended with the same messages.
//
//	transportbench serve -dir DIR [-messages 10000] [-seed 1] [-lifetime 2h]
//	transportbench submission -o DIR -n 1000 -size 51200 -from A -to B
//	transportbench summary MAILDIR
//	transportbench delivered -maildir DIR -want N [-timeout 5m]
//
// serve writes DIR/env.sh (shell variables: ports, account, certificate files) once the servers
// are up and the mailbox is filled, then runs until SIGTERM/SIGINT or -lifetime, and stops the
// servers. Loopback only; it needs root (Dovecot and Postfix drop privileges themselves).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/testpki"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: transportbench serve|submission|summary|delivered [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serveCmd(os.Args[2:])
	case "submission":
		err = submissionCmd(os.Args[2:])
	case "summary":
		err = summaryCmd(os.Args[2:])
	case "delivered":
		err = deliveredCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "transportbench:", err)
		os.Exit(1)
	}
}

const (
	domain  = "test.mssante.fr"
	account = "appli.bench@" + domain
	orgID   = "499700000000001"
)

func serveCmd(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	dir := fs.String("dir", "", "directory for env.sh and the client files (required)")
	n := fs.Int("messages", 10000, "messages in the mailbox")
	seed := fs.Uint64("seed", 1, "random seed of the corpus")
	lifetime := fs.Duration("lifetime", 2*time.Hour, "stop the servers after this long in any case")
	fs.Parse(args)
	if *dir == "" {
		return fmt.Errorf("-dir is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	t := &runTB{}
	defer t.Close()

	began := time.Now()
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	st := peertest.Start(t, peertest.Options{PKI: pki, AppUsers: []string{account}})
	fmt.Fprintf(os.Stderr, "transportbench: Dovecot on %s, Postfix on %s (%s)\n", st.IMAP, st.Submission, time.Since(began).Round(time.Millisecond))

	root := filepath.Join(*dir, "root.pem")
	if err := os.WriteFile(root, pki.RootPEM(), 0o644); err != nil {
		return err
	}
	cert, key, chain := pki.Client(orgID, account).WriteFiles(t, *dir, "client")

	began = time.Now()
	src := filepath.Join(st.Dir, "import")
	sum, err := writeCorpus(src, *n, *seed, account, domain)
	if err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	if err := writeJSONFile(filepath.Join(*dir, "corpus.json"), sum); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "transportbench: corpus of %d messages, %.1f MB (%s)\n", sum.Messages, float64(sum.Bytes)/1e6, time.Since(began).Round(time.Millisecond))
	began = time.Now()
	if err := chownTree(src, 65534, 65534); err != nil { // peertest's mail_uid, who writes the source's index
		return err
	}
	conf := filepath.Join(st.Dir, "dovecot.conf")
	if out, err := exec.CommandContext(ctx, doveadm(), "-c", conf, "import", "-u", account,
		"maildir:"+src+":LAYOUT=fs:INBOX="+filepath.Join(src, "INBOX"), "", "all").CombinedOutput(); err != nil || len(out) > 0 {
		return fmt.Errorf("doveadm import: %v\n%s", err, out)
	}
	if got, err := serverCount(ctx, conf); err != nil || got != sum.Messages {
		return fmt.Errorf("doveadm import: the mailbox holds %d messages, not %d (%v)", got, sum.Messages, err)
	}
	if err := os.RemoveAll(src); err != nil {
		return err
	}
	// Every client starts from the same server state: the index and the cache of the fields the
	// clients ask for (sizes, dates, envelope, structure) are built before the first one runs.
	out, err := exec.CommandContext(ctx, doveadm(), "-c", conf, "fetch", "-u", account,
		"uid flags size.virtual size.physical date.received date.sent imap.envelope imap.bodystructure hdr",
		"mailbox", "*", "all").Output()
	if err != nil {
		return fmt.Errorf("doveadm fetch: %v\n%s", err, st.Logs())
	}
	fmt.Fprintf(os.Stderr, "transportbench: imported and indexed (%s, %d bytes of fetch output)\n", time.Since(began).Round(time.Millisecond), len(out))

	_, imapPort, _ := strings.Cut(st.IMAP, ":")
	_, smtpPort, _ := strings.Cut(st.Submission, ":")
	env := map[string]string{
		// "localhost" is in the server certificate (and 127.0.0.1): every client connects to
		// localhost:PORT and verifies that name.
		"PEER_HOST":    "localhost",
		"IMAP_PORT":    imapPort,
		"SMTP_PORT":    smtpPort,
		"ACCOUNT":      account,
		"DOMAIN":       domain,
		"CLIENT_CERT":  cert,
		"CLIENT_KEY":   key,
		"CLIENT_CHAIN": chain,
		"ROOT_CA":      root,
		"MAIL_ROOT":    filepath.Join(st.Dir, "mail", domain),
		"CORPUS":       filepath.Join(*dir, "corpus.json"),
		"PEERS_DIR":    st.Dir,
		"SERVE_PID":    fmt.Sprint(os.Getpid()),
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(env)) {
		fmt.Fprintf(&b, "%s=%q\n", k, env[k])
	}
	tmp := filepath.Join(*dir, ".env.sh")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(*dir, "env.sh")); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "transportbench: ready")
	select {
	case <-ctx.Done():
	case <-time.After(*lifetime):
		fmt.Fprintf(os.Stderr, "transportbench: lifetime %s over, stopping the servers\n", *lifetime)
	}
	fmt.Fprintln(os.Stderr, "transportbench: stopping the servers")
	return nil
}

// serverCount is the number of messages of the account in all its mailboxes, as Dovecot says.
func serverCount(ctx context.Context, conf string) (int, error) {
	out, err := exec.CommandContext(ctx, doveadm(), "-c", conf, "-f", "tab", "mailbox", "status", "-u", account,
		"messages", "*").Output()
	if err != nil {
		return 0, fmt.Errorf("doveadm mailbox status: %w", err)
	}
	total := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n")[1:] {
		var v int
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, '\t')+1:], &v); err != nil {
			return 0, fmt.Errorf("doveadm mailbox status: %q", line)
		}
		total += v
	}
	return total, nil
}

func chownTree(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

func doveadm() string {
	for _, p := range []string{"/usr/bin/doveadm", "/usr/sbin/doveadm"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "doveadm"
}

func submissionCmd(args []string) error {
	fs := flag.NewFlagSet("submission", flag.ExitOnError)
	out := fs.String("o", "", "output directory (required)")
	n := fs.Int("n", 1000, "messages")
	size := fs.Int("size", 50*1024, "bytes per message")
	seed := fs.Uint64("seed", 1, "random seed")
	from := fs.String("from", account, "sender")
	to := fs.String("to", "", "recipient (required)")
	fs.Parse(args)
	if *out == "" || *to == "" {
		return fmt.Errorf("-o and -to are required")
	}
	return writeSubmission(*out, *n, *size, *seed, *from, *to)
}

func summaryCmd(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("summary MAILDIR")
	}
	sum, err := summarizeMaildir(args[0])
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(sum)
}

// deliveredCmd waits until the INBOX Maildir dir holds want messages (Postfix delivers after
// accepting), so that a submission run does not overlap the deliveries of the previous one.
func deliveredCmd(args []string) error {
	fs := flag.NewFlagSet("delivered", flag.ExitOnError)
	dir := fs.String("maildir", "", "INBOX Maildir of the recipient (required)")
	want := fs.Int("want", 0, "messages expected")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after")
	fs.Parse(args)
	deadline := time.Now().Add(*timeout)
	for {
		got := 0
		for _, sub := range []string{"cur", "new"} {
			entries, _ := os.ReadDir(filepath.Join(*dir, sub))
			got += len(entries)
		}
		if got >= *want {
			fmt.Println(got)
			return nil
		}
		if time.Now().After(deadline) {
			fmt.Println(got)
			return fmt.Errorf("%s: %d of %d messages delivered after %s", *dir, got, *want, *timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
