package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/outbox"
	"github.com/mssante/mssante/lps"
)

// AccountConnector opens the sessions of one mailbox through internal/mailbox: an Account per
// outbox worker (its SMTP session, the patient rule of SendEnvelope, the audit trail) and
// Account.DialIMAP for the sync, the moves and IDLE.
type AccountConnector struct {
	// Options build each Account (address, credentials, servers or autoconfig, TLS policy,
	// audit trail).
	Options mailbox.Options
	// Timeout bounds each dial and each submission (default 2 min).
	Timeout time.Duration
}

func (c *AccountConnector) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 2 * time.Minute
	}
	return c.Timeout
}

// SMTP implements Connector.
func (c *AccountConnector) SMTP(ctx context.Context) (outbox.Session, error) {
	acct, err := mailbox.New(c.Options)
	if err != nil {
		return nil, err
	}
	return &accountSession{acct: acct, timeout: c.timeout()}, nil
}

// accountSession submits outbox entries with Account.SendEnvelope, each bounded by the timeout
// (a server that stops answering does not hold the lease).
type accountSession struct {
	acct    *mailbox.Account
	timeout time.Duration
}

func (s *accountSession) Submit(ctx context.Context, from string, rcpts []string, raw []byte, dsn *outbox.DSN) (outbox.Result, error) {
	if !strings.EqualFold(from, s.acct.Address()) {
		return outbox.Result{}, &lps.SendError{Permanent: true, Command: "MAIL",
			Err: fmt.Errorf("the envelope sender %s is not the account %s", from, s.acct.Address())}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	e := mailbox.Envelope{Recipients: rcpts, Data: raw}
	if dsn != nil {
		e.DSN = &lps.DSN{Return: dsn.Return, Notify: dsn.Notify, EnvelopeID: dsn.EnvelopeID}
	}
	res, err := s.acct.SendEnvelope(ctx, e)
	var re *mailbox.RecipientError
	if errors.As(err, &re) {
		// The patient rule refuses a recipient: retrying cannot change it.
		return outbox.Result{}, &lps.SendError{Permanent: true, Command: "RCPT", Err: err}
	}
	if err != nil {
		return outbox.Result{}, err
	}
	return outbox.Result{Response: res.Response}, nil
}

func (s *accountSession) Close() error { return s.acct.Close() }

// IMAP implements Connector.
func (c *AccountConnector) IMAP(ctx context.Context) (IMAPSession, error) {
	acct, err := mailbox.New(c.Options)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	ic, err := acct.DialIMAP(dctx)
	if err != nil {
		_ = acct.Close()
		return nil, err
	}
	return &imapSession{IMAPClient: ic, acct: acct}, nil
}

// imapSession is an IMAP session of the mailbox's own (mailstore.Source) with the moves and
// the IDLE wait the gateway needs.
type imapSession struct {
	*lps.IMAPClient
	acct *mailbox.Account
}

func (s *imapSession) Move(ctx context.Context, folder string, uids []uint32, dest string) error {
	if _, err := s.Select(ctx, folder); err != nil {
		return err
	}
	return s.IMAPClient.Move(ctx, uids, dest)
}

// Wait selects folder and IDLEs until the server announces a change or d passes.
func (s *imapSession) Wait(ctx context.Context, folder string, d time.Duration) error {
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

func (s *imapSession) Close() error {
	err := s.IMAPClient.Close()
	_ = s.acct.Close()
	return err
}
