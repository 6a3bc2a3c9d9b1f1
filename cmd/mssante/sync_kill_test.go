package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/store/storetest"
)

// ECO.1.0.2 (issue 9 item 1): `mssante sync` killed by SIGKILL at random moments and started
// again ends with exactly the mailbox a sync never interrupted gives: the same messages (UID,
// Message-ID, size), no duplicate, and the same bytes in the Maildir. The Maildir is then
// deleted and rebuilt from the store alone, which proves the stored bodies (on SQLite the pack
// files, each read checked by its CRC) byte for byte. Both dialects.
func TestSync_killedRunsLoseNothing_ECO_1_0_2(t *testing.T) {
	// The outbox tests' peers: Dovecot with the revocation server, alice's token, the binary.
	p := newOutboxPeer(t)
	p.build(t)
	st, dir, bin, root, token := p.st, p.dir, p.bin, p.root, p.tokenFile
	const carol = obAlice

	n := 400
	if v, err := strconv.Atoi(os.Getenv("MSSANTE_SYNC_CRASH_N")); err == nil && v > 0 {
		n = v
	}
	rnd := rand.New(rand.NewPCG(7, 11))
	for i := range n {
		folder := "INBOX"
		if i%5 == 4 {
			folder = "Sent"
		}
		body := strings.Repeat(fmt.Sprintf("Compte rendu %d, ligne de texte.\r\n", i), 20+rnd.IntN(400))
		if i%9 == 0 { // a scan of a few hundred kilobytes
			scan := make([]byte, 100<<10+rnd.IntN(300<<10))
			for j := range scan {
				scan[j] = byte(rnd.Uint32())
			}
			enc := base64.StdEncoding.EncodeToString(scan)
			var wrapped strings.Builder
			for len(enc) > 76 {
				wrapped.WriteString(enc[:76] + "\r\n")
				enc = enc[76:]
			}
			wrapped.WriteString(enc + "\r\n")
			body = "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n--b\r\n" +
				"Content-Type: application/pdf; name=scan.pdf\r\nContent-Transfer-Encoding: base64\r\n" +
				"Content-Disposition: attachment; filename=scan.pdf\r\n\r\n" + wrapped.String() + "--b--\r\n"
		}
		ct := "text/plain; charset=utf-8"
		if i%9 == 0 {
			ct = "multipart/mixed; boundary=b"
		}
		raw := fmt.Sprintf("From: Dr Jean DUPONT <jean.dupont@hopital-a.mssante.fr>\r\nTo: <%s>\r\nSubject: Avis %d\r\n"+
			"Date: Wed, 02 Dec 2026 10:%02d:00 +0100\r\nMessage-ID: <kill-%d@hopital-a.mssante.fr>\r\nMIME-Version: 1.0\r\n"+
			"Content-Type: %s\r\n\r\n%s", carol, i, i%60, i, ct, body)
		st.Deliver(carol, folder, []byte(raw))
	}

	syncArgs := func(data, db, maildir string) []string {
		return []string{"sync", "--account", carol, "--token-file", token, "--imap", st.IMAP, "--trust-root", root,
			"--data-dir", data, "--db", db, "--maildir", maildir}
	}
	run := func(t *testing.T, args []string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("mssante %s: %v\n%s\n%s", args[0], err, errOut.String(), st.Logs())
		}
		return out.String()
	}
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			// The reference: one sync, never interrupted.
			ref := filepath.Join(dir, "ref-"+string(d))
			began := time.Now()
			run(t, syncArgs(filepath.Join(ref, "data"), storetest.URL(t, d), filepath.Join(ref, "Mail")))
			whole := time.Since(began)
			want := maildirByUID(t, filepath.Join(ref, "Mail"))
			if len(want) != n {
				t.Fatalf("reference sync: %d messages in the Maildir, want %d", len(want), n)
			}

			data, maildir, db := filepath.Join(dir, "killed-"+string(d)), filepath.Join(dir, "killed-"+string(d), "Mail"), storetest.URL(t, d)
			// Each run is killed by SIGKILL once the Maildir (written after each commit) has
			// reached a random count beyond what the previous runs left, until a run ends by itself.
			kills, runs, target := 0, 0, 0
			for finished := false; !finished && runs < 60; {
				runs++
				target += 1 + rnd.IntN(n/6)
				cmd := exec.Command(bin, syncArgs(data, db, maildir)...)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				tick := time.NewTicker(2 * time.Millisecond)
			wait:
				for {
					select {
					case err := <-done:
						if err != nil {
							t.Fatalf("sync run %d: %v", runs, err)
						}
						finished = true
						break wait
					case <-tick.C:
						if target < n && maildirCount(maildir) >= target {
							_ = cmd.Process.Signal(syscall.SIGKILL)
							if err := <-done; err != nil {
								kills++
							} else {
								finished = true
							}
							break wait
						}
					}
				}
				tick.Stop()
			}
			var sum syncSummary
			if err := json.Unmarshal([]byte(run(t, syncArgs(data, db, maildir))), &sum); err != nil {
				t.Fatal(err)
			}
			if sum.Messages != n {
				t.Fatalf("after %d runs (%d killed): %+v, want %d messages", runs, kills, sum, n)
			}
			if kills < 2 {
				t.Fatalf("%d runs killed (an uninterrupted sync takes %v): the test proved little", kills, whole)
			}
			compareMaildirs(t, "after the killed runs", maildirByUID(t, maildir), want)

			// Rebuilt from the store alone: every body read back.
			if err := os.RemoveAll(maildir); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(run(t, syncArgs(data, db, maildir))), &sum); err != nil || sum.New != 0 {
				t.Fatalf("sync after removing the Maildir: %+v %v, want nothing new", sum, err)
			}
			compareMaildirs(t, "rebuilt from the store", maildirByUID(t, maildir), want)
			t.Logf("%s: %d messages (an uninterrupted sync: %v), %d runs of which %d killed by SIGKILL, then one more: same messages and bytes as an uninterrupted sync",
				d, n, whole.Round(time.Millisecond), runs+1, kills)
		})
	}
}

// maildirCount is the number of messages in the cur/ directories of a Maildir tree.
func maildirCount(root string) int {
	n := 0
	_ = filepath.WalkDir(root, func(path string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && filepath.Base(filepath.Dir(path)) == "cur" {
			n++
		}
		return nil
	})
	return n
}

var maildirUID = regexp.MustCompile(`,U=(\d+):2,`)

// maildirByUID reads a Maildir tree written by `mssante sync --maildir`: folder/UID -> content.
func maildirByUID(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || filepath.Base(filepath.Dir(path)) != "cur" {
			return err
		}
		m := maildirUID.FindStringSubmatch(e.Name())
		if m == nil {
			t.Errorf("maildir file %s has no UID", path)
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(filepath.Dir(path)))
		key := rel + "/" + m[1]
		if _, dup := out[key]; dup {
			t.Errorf("two files for %s in the maildir", key)
		}
		out[key] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func compareMaildirs(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d messages, want %d", what, len(got), len(want))
	}
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: %s missing", what, k)
		} else if g != w {
			t.Errorf("%s: %s differs (%d bytes, want %d)", what, k, len(g), len(w))
		}
	}
}
