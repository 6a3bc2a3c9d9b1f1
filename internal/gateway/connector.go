package gateway

import (
	"context"
	"time"

	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/outbox"
)

// AccountConnector opens the sessions of one mailbox through internal/mailbox: an Account per
// outbox worker (its SMTP session, the patient rule of SendEnvelope, the audit trail) and
// Account.OpenSession for the sync, the moves and IDLE.
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
	return mailbox.OutboxSession(acct, c.timeout()), nil
}

// IMAP implements Connector.
func (c *AccountConnector) IMAP(ctx context.Context) (IMAPSession, error) {
	acct, err := mailbox.New(c.Options)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	s, err := acct.OpenSession(dctx)
	if err != nil {
		_ = acct.Close()
		return nil, err
	}
	return &imapSession{Session: s, acct: acct}, nil
}

// imapSession is a mailbox.Session (mailstore.Source, moves to a folder created when missing,
// IDLE) that closes its account with it.
type imapSession struct {
	*mailbox.Session
	acct *mailbox.Account
}

func (s *imapSession) Close() error {
	err := s.Session.Close()
	_ = s.acct.Close()
	return err
}
