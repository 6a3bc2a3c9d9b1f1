package lps

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Idle waits for changes in the selected mailbox (IDLE, RFC 2177) and calls onUpdate for each
// (from the session's reader goroutine: onUpdate must not call the client), until ctx is done,
// which is the way to stop it (Idle then returns nil). It occupies the session: use a dedicated
// IMAPClient for IDLE. When the server closes the session, Idle reopens it with back-off while the
// authentication is valid (ECO.1.2.7), selects the mailbox again, reports its message count and
// resumes; it returns an error when the session cannot be reopened. Close stops it too.
func (cl *IMAPClient) Idle(ctx context.Context, onUpdate func(Update)) error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.selected == "" {
		return &IMAPError{Command: "IDLE", Err: errors.New("no mailbox selected")}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cl.updMu.Lock()
	cl.onUpdate, cl.stopIdle = onUpdate, cancel
	cl.updMu.Unlock()
	defer func() {
		cl.updMu.Lock()
		cl.onUpdate, cl.stopIdle = nil, nil
		cl.updMu.Unlock()
	}()
	failures := 0
	for {
		if ctx.Err() != nil {
			return nil
		}
		wasBroken := cl.c == nil || cl.broken
		if err := cl.ensure(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			cl.opts.record(ctx, cl.auth.Address, ActionIdle, "IDLE "+quote(cl.selected), "", err)
			return err
		}
		if wasBroken {
			cl.opts.record(ctx, cl.auth.Address, ActionConnect, "REOPEN "+cl.ep.String(), "session reopened (ECO.1.2.7)", nil)
			if mb := cl.c.Mailbox(); mb != nil && onUpdate != nil {
				onUpdate(Update{Messages: mb.NumMessages})
			}
		}
		cmd, err := cl.c.Idle()
		if err != nil {
			cl.markBroken()
			if failures++; failures > 3 {
				err = &IMAPError{Command: "IDLE", Err: fmt.Errorf("%w: %w", ErrConnBroken, err)}
				cl.opts.record(ctx, cl.auth.Address, ActionIdle, "IDLE "+quote(cl.selected), "", err)
				return err
			}
			continue
		}
		cl.opts.record(ctx, cl.auth.Address, ActionIdle, "IDLE "+quote(cl.selected), "+ idling", nil)
		select {
		case <-ctx.Done():
			wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			release := cl.s.raw.bind(wctx)
			err := cmd.Close()
			if err == nil {
				err = cmd.Wait()
			}
			release()
			cancel()
			if err != nil {
				cl.markBroken()
			}
			return nil
		case <-cl.c.Closed():
			cl.broken = true
			failures = 0
			cl.opts.logger().Info("imap session closed by the server during IDLE", "endpoint", cl.ep.String())
		}
	}
}
