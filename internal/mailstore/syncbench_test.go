package mailstore

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/trust"
)

// BenchmarkSync: first sync of a 500-message mailbox (~5 KB each, one CDA mail in ten) from the
// real Dovecot over STARTTLS, into a fresh index, per dialect, without and with a Maildir.
func BenchmarkSync(b *testing.B) {
	const n = 500
	st, pol, ep := dovecotPeer(b)
	const carol = "carol@test.mssante.fr"
	var bytes int64
	for i := range n {
		var raw []byte
		if i%10 == 0 {
			raw = cdaMail(b, "n3-cr-biologie.xml", byte(i), t0).Data
		} else {
			raw = plainMail(drDupont, "Dr Jean DUPONT", fmt.Sprintf("Avis %d", i), fmt.Sprintf("s%d@x", i), t0,
				strings.Repeat("Compte rendu de consultation. ", 160))
		}
		bytes += int64(len(raw))
		st.Deliver(carol, "INBOX", raw)
	}
	auth := lps.Auth{Method: lps.AuthXOAUTH2, Address: carol,
		Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return st.Token(carol, time.Hour), nil })}
	cl, err := lps.DialIMAP(ctxT(b), ep, auth, &lps.Options{TLS: pol.ClientConfig("", nil), ClassifyTLSError: trust.ClassifyHandshakeError})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	for _, d := range storetest.Dialects {
		// "+maildir" also writes the Maildir (the third stage of the pipeline, one file per message).
		for _, withMaildir := range []bool{false, true} {
			name := string(d)
			if withMaildir {
				name += "+maildir"
			}
			b.Run(name, func(b *testing.B) {
				if d == store.Postgres && os.Getenv(storetest.EnvPostgres) == "" {
					b.Skip(storetest.EnvPostgres + " not set")
				}
				cpu0 := cpuTime(b)
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					s := New(storetest.Open(b, d, Migrations()...), nil)
					opts := &SyncOptions{Folders: []string{"INBOX"}}
					if withMaildir {
						md, err := OpenMaildir(b.TempDir())
						if err != nil {
							b.Fatal(err)
						}
						opts.Maildir = md
					}
					b.StartTimer()
					sum, err := s.Sync(ctxT(b), cl, carol, opts)
					if err != nil || sum.New != n {
						b.Fatalf("%+v %v", sum, err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msg/s")
				// CPU time of this process (user + system) is steadier than wall time on a shared
				// machine; it includes the untimed index creations.
				b.ReportMetric(float64((cpuTime(b)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
				b.SetBytes(bytes)
			})
		}
	}
}

// cpuTime is the user + system time of this process so far.
func cpuTime(b *testing.B) time.Duration {
	ru := rusage(b)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sysTime is the system time of this process so far.
func sysTime(b *testing.B) time.Duration {
	ru := rusage(b)
	return time.Duration(ru.Stime.Nano())
}

func rusage(b *testing.B) syscall.Rusage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru
}

// BenchmarkMaildirPut: the Maildir writer's cost per message (38 KB, the bench mailbox's mean),
// one writer and two in one folder, as wall and system time per file. On the bench machine's
// ext4 the system time of a file creation drifts from ~0.15 to ~0.9 ms within minutes: it sets
// the wall time of both `mssante sync --maildir` and mbsync (bench/transport.sh).
//
//	go test -run XXX -bench MaildirPut -benchtime 5000x ./internal/mailstore/
func BenchmarkMaildirPut(b *testing.B) {
	raw := []byte(strings.Repeat("Compte rendu de consultation, ligne de texte.\r\n", 38000/48))
	for _, writers := range []int{1, 2} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			md, err := OpenMaildir(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			next := make(chan int)
			errs := make(chan error, writers)
			cpu0 := sysTime(b)
			b.ResetTimer()
			for range writers {
				go func() {
					var err error
					for i := range next {
						if err == nil {
							err = md.put("INBOX", int64(i+1), uint32(i+1), []string{`\Seen`}, raw)
						}
					}
					errs <- err
				}()
			}
			for i := 0; i < b.N; i++ {
				next <- i
			}
			close(next)
			for range writers {
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((sysTime(b)-cpu0).Microseconds())/float64(b.N), "sys-µs/file")
			b.SetBytes(int64(len(raw)))
		})
	}
}
