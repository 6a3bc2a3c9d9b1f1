package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/patients"
	"github.com/mssante/mssante/internal/store"
)

// sync --watch keeps the local store up to date (mailbox.Account.SyncLive): the incremental
// sync of every folder, then IMAP IDLE on INBOX (the first --folder when INBOX is not one of
// them) and every folder each --every. One JSON line per change on stdout,
//
//	{"folder":"INBOX","new":1,"removed":0,"flags":0}
//
// errors (retried with back-off) and session events on stderr. SIGTERM or Ctrl-C end it with
// exit 0; the end of the professional's session (the token file removed) with exit 1.

type syncWatchFlags struct {
	watch *bool
	every *time.Duration
}

func declareSyncWatch(fs *flag.FlagSet) *syncWatchFlags {
	return &syncWatchFlags{
		watch: fs.Bool("watch", false, "keep running: IDLE on INBOX, every folder each --every; one JSON line per change (folder, new, removed, flags) until SIGTERM or Ctrl-C"),
		every: fs.Duration("every", 5*time.Minute, "with --watch: synchronise every folder each `duration`"),
	}
}

func runSyncWatch(ctx context.Context, env *cmdEnv, c *connFlags, folders []string, maildir string, f *syncWatchFlags) error {
	if *f.every < time.Second {
		return usagef("--every must be at least 1s")
	}
	if err := c.checkAccount(); err != nil {
		return err
	}
	defer limitMemory()()
	db, err := store.Open(ctx, *c.db, append(mailstore.Migrations(), patients.Migrations...)...)
	if err != nil {
		return err
	}
	defer db.Close()
	ms := mailstore.New(db, &mailstore.Options{Patients: patients.New(db)})
	lo := &mailbox.LiveOptions{Watch: "INBOX", Folders: folders, Every: *f.every, DialTimeout: max(*c.timeout, 10*time.Second)}
	if len(folders) > 0 && !slices.ContainsFunc(folders, func(f string) bool { return strings.EqualFold(f, "INBOX") }) {
		lo.Watch = folders[0]
	}
	if maildir != "" {
		if lo.Sync.Maildir, err = mailstore.OpenMaildir(maildir); err != nil {
			return err
		}
	}
	var errMu sync.Mutex
	say := func(format string, args ...any) {
		errMu.Lock()
		defer errMu.Unlock()
		fmt.Fprintf(env.stderr, "mssante sync: "+format+"\n", args...)
	}
	lo.OnChange = func(ch mailbox.LiveChange) { _ = writeJSONLine(env.stdout, ch) }
	lo.OnError = func(folder string, err error) {
		if folder == "" {
			folder = "(liste des dossiers)"
		}
		say("%s : échec, nouvel essai plus tard : %v", folder, err)
	}
	lo.OnEvent = func(ev mailbox.WatchEvent) {
		switch ev.Kind {
		case "watching":
			say("à l'écoute de %s sur %s (%d messages)", lo.Watch, ev.Server, ev.Messages)
		case "reconnected":
			say("session IMAP rouverte sur %s", ev.Server)
		case "disconnected":
			say("serveur %s injoignable, nouvel essai : %s", ev.Server, ev.Reason)
		}
	}
	// sessCtx ends with the professional's session (the token link removed).
	sessCtx, endSession := context.WithCancelCause(ctx)
	defer endSession(nil)
	if *c.tokenFile != "" {
		go mailbox.FollowTokenFile(sessCtx, *c.tokenFile, watchPoll, func(time.Time) {}, func(e *mailbox.SessionEnded) { endSession(e) })
	}
	acct, done, err := c.open(ctx, env)
	if err != nil {
		return err
	}
	defer done()
	err = acct.SyncLive(sessCtx, ms, lo)
	var se *mailbox.SessionEnded
	if errors.As(context.Cause(sessCtx), &se) {
		return se
	}
	return err
}
