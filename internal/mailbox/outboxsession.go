package mailbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mssante/mssante/internal/outbox"
	"github.com/mssante/mssante/lps"
)

// OutboxSession is the outbox.Session of a durable outbox worker over a: each entry goes with
// SendEnvelope (its stored envelope, the patient rule applied), bounded by timeout so that a server
// that stops answering does not hold the entry's lease; Close closes a. A recipient the patient
// rule refuses, or an envelope sender other than a, is a permanent failure (retrying cannot change
// it).
func OutboxSession(a *Account, timeout time.Duration) outbox.Session {
	return &outboxSession{acct: a, timeout: timeout}
}

type outboxSession struct {
	acct    *Account
	timeout time.Duration
}

func (s *outboxSession) Submit(ctx context.Context, from string, rcpts []string, raw []byte, dsn *outbox.DSN) (outbox.Result, error) {
	if !strings.EqualFold(from, s.acct.Address()) {
		return outbox.Result{}, &lps.SendError{Permanent: true, Command: "MAIL",
			Err: fmt.Errorf("the envelope sender %s is not the account %s", from, s.acct.Address())}
	}
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	e := Envelope{Recipients: rcpts, Data: raw}
	if dsn != nil {
		e.DSN = &lps.DSN{Return: dsn.Return, Notify: dsn.Notify, EnvelopeID: dsn.EnvelopeID}
	}
	res, err := s.acct.SendEnvelope(ctx, e)
	var re *RecipientError
	if errors.As(err, &re) {
		return outbox.Result{}, &lps.SendError{Permanent: true, Command: "RCPT", Err: err}
	}
	if err != nil {
		return outbox.Result{}, err
	}
	return outbox.Result{Response: res.Response}, nil
}

func (s *outboxSession) Close() error { return s.acct.Close() }
