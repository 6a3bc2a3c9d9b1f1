package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"strings"

	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/patients"
	"github.com/mssante/mssante/internal/store"
)

// sync brings the account's folders into the local store (internal/mailstore), over an IMAP
// session the account (internal/mailbox) opens.

// syncSummary is the JSON summary of `mssante sync` (issue 9).
type syncSummary struct {
	Folders  int     `json:"folders"`
	Messages int     `json:"messages"`
	New      int     `json:"new"`
	Bytes    int64   `json:"bytes"`
	Seconds  float64 `json:"seconds"`
}

func init() {
	register(&command{
		name:    "sync",
		summary: "bring the mailbox's folders into the local store (IMAP 143, STARTTLS): first every message, then what changed",
		usage:   "sync --account ADDR (--token-file F | --cert F --key F) [--autoconfig-url URL | --imap HOST:PORT] [--trust-root PEM]… [--server-name NAME] [--profile production|test] [--folder F]… [--maildir DIR] [--watch [--every D]] [--db URL] [--data-dir DIR]",
		example: "mssante sync --account dr.martin@test.mssante.fr --token-file ~/.psc-token --imap imap.test.mssante.fr:143 --maildir ~/Mail/mssante",
		flags: func(fs *flag.FlagSet) runFunc {
			c := declareConn(fs, "imap")
			var folders stringList
			fs.Var(&folders, "folder", "`folder` to synchronise (repeatable; default every folder)")
			maildir := fs.String("maildir", "", "also write a standard Maildir tree in `DIR` (one file per message, flags in the names as mbsync does)")
			live := declareSyncWatch(fs)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				if *live.watch {
					return runSyncWatch(ctx, env, c, folders, *maildir, live)
				}
				return runSync(ctx, env, c, folders, *maildir)
			}
		},
	})
}

// syncMemoryLimit is the soft limit of the Go heap during a sync (runtime/debug.SetMemoryLimit),
// unless a limit is set already (GOMEMLIMIT): the garbage collector runs earlier instead of letting the heap
// grow to twice what a 5 MB message and the bodies in flight need. A bigger message still passes
// (the limit is soft). On the 3,000-message bench mailbox: peak RSS 70 -> 61 MiB, same CPU time.
const syncMemoryLimit = 20 << 20

// syncGCPercent is the garbage collector's target during a sync unless GOGC is set: the live
// heap is small (2-3 MiB) and every body passes through it, so the default of 100 collected
// every few megabytes (~470 cycles for the bench mailbox); 200 halves that, ~10% less CPU, and
// the memory limit above still bounds the heap.
const syncGCPercent = 200

// limitMemory applies syncMemoryLimit and syncGCPercent and returns what restores the previous
// settings (the commands also run inside the tests' process).
func limitMemory() (restore func()) {
	restoreGC := func() {}
	if os.Getenv("GOGC") == "" {
		prev := debug.SetGCPercent(syncGCPercent)
		restoreGC = func() { debug.SetGCPercent(prev) }
	}
	// A negative input only reads the limit: one set already (GOMEMLIMIT, or the embedding
	// process) is kept.
	if debug.SetMemoryLimit(-1) != math.MaxInt64 {
		return restoreGC
	}
	prev := debug.SetMemoryLimit(syncMemoryLimit)
	return func() { debug.SetMemoryLimit(prev); restoreGC() }
}

func runSync(ctx context.Context, env *cmdEnv, c *connFlags, folders []string, maildir string) error {
	defer limitMemory()()
	// The mail index and the known patients (which give each received document its patient)
	// share the main database.
	db, err := store.Open(ctx, *c.db, append(mailstore.Migrations(), patients.Migrations...)...)
	if err != nil {
		return err
	}
	defer db.Close()
	ms := mailstore.New(db, &mailstore.Options{Patients: patients.New(db)})
	opts := &mailstore.SyncOptions{Folders: folders}
	if maildir != "" {
		if opts.Maildir, err = mailstore.OpenMaildir(maildir); err != nil {
			return err
		}
	}
	if env.stderrTTY {
		opts.Progress = progressBar(env.stderr)
	}
	// --timeout bounds the connection; a long sync is not cut (it would resume anyway).
	dialCtx, cancel := c.deadline(ctx)
	acct, done, err := c.open(dialCtx, env)
	if err != nil {
		cancel()
		return err
	}
	defer done()
	ic, err := acct.DialIMAP(dialCtx)
	cancel()
	if err != nil {
		return err
	}
	defer ic.Close()
	sum, err := ms.Sync(ctx, ic, *c.account, opts)
	if opts.Progress != nil {
		fmt.Fprintln(env.stderr)
	}
	if err != nil {
		return err
	}
	return writeJSON(env.stdout, syncSummary{Folders: sum.Folders, Messages: sum.Messages, New: sum.New,
		Bytes: sum.Bytes, Seconds: sum.Seconds})
}

// isTerminal reports whether w is a character device (a terminal).
// progressBar draws "INBOX [#####-----] 120/400 3.2 MB" on one line of w.
func progressBar(w io.Writer) func(mailstore.Progress) {
	return func(p mailstore.Progress) {
		const width = 30
		filled := width
		if p.Total > 0 {
			filled = p.Done * width / p.Total
		}
		fmt.Fprintf(w, "\r%-20.20s [%s%s] %d/%d %.1f Mo\x1b[K", p.Folder, strings.Repeat("#", filled),
			strings.Repeat("-", width-filled), p.Done, p.Total, float64(p.Bytes)/1e6)
	}
}
