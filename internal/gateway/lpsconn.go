package gateway

import (
	"context"
	"time"

	"github.com/mssante/mssante/internal/outbox"
	"github.com/mssante/mssante/lps"
)

// LPSConnector opens the sessions of one mailbox with lps. It stands in for the sessions of
// internal/mailbox.Account, which does not expose them yet (a sync Source and an outbox Sender):
// when it does, cmd builds the Connector from the Account and this file goes.
type LPSConnector struct {
	SMTPServer, IMAPServer lps.Endpoint
	Auth                   lps.Auth
	Options                *lps.Options
	// Timeout bounds each dial and each submission (default 2 min).
	Timeout time.Duration
}

func (c *LPSConnector) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 2 * time.Minute
	}
	return c.Timeout
}

// SMTP implements Connector.
func (c *LPSConnector) SMTP(ctx context.Context) (outbox.Session, error) {
	dctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	sc, err := lps.DialSMTP(dctx, c.SMTPServer, c.Auth, c.Options)
	if err != nil {
		return nil, err
	}
	return timedSession{outbox.LPSSession{Client: sc}, c.timeout()}, nil
}

// timedSession bounds each submission: a server that stops answering does not hold the lease.
type timedSession struct {
	outbox.LPSSession
	timeout time.Duration
}

func (s timedSession) Submit(ctx context.Context, from string, rcpts []string, raw []byte, dsn *outbox.DSN) (outbox.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.LPSSession.Submit(ctx, from, rcpts, raw, dsn)
}

// IMAP implements Connector.
func (c *LPSConnector) IMAP(ctx context.Context) (IMAPSession, error) {
	dctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	ic, err := lps.DialIMAP(dctx, c.IMAPServer, c.Auth, c.Options)
	if err != nil {
		return nil, err
	}
	return &lpsIMAP{IMAPClient: ic}, nil
}

type lpsIMAP struct {
	*lps.IMAPClient
}

func (s *lpsIMAP) Move(ctx context.Context, folder string, uids []uint32, dest string) error {
	if _, err := s.Select(ctx, folder); err != nil {
		return err
	}
	return s.IMAPClient.Move(ctx, uids, dest)
}

// Wait selects folder and IDLEs until the server announces a change or d passes.
func (s *lpsIMAP) Wait(ctx context.Context, folder string, d time.Duration) error {
	if _, err := s.Select(ctx, folder); err != nil {
		return err
	}
	ictx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	err := s.Idle(ictx, func(lps.Update) { cancel() })
	if ictx.Err() != nil && ctx.Err() == nil {
		return nil // a change, or d passed
	}
	return err
}
