package outbox

import (
	"bytes"
	"context"
	"errors"

	"github.com/mssante/mssante/lps"
)

// Sender opens submission sessions. The runner opens one session per account and worker and
// sends every message of that account it takes over it.
type Sender interface {
	Open(ctx context.Context, account string) (Session, error)
}

// Session is one SMTP submission session of an account.
type Session interface {
	// Submit sends raw from from to rcpts. An error that is a *lps.SendError with Permanent
	// set fails the message; any other error is temporary (the message is retried).
	Submit(ctx context.Context, from string, rcpts []string, raw []byte, dsn *DSN) (Result, error)
	Close() error
}

// Result is the outcome of an accepted submission.
type Result struct {
	Response string // the server's answer to the end of DATA
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, account string) (Session, error)

// Open calls f.
func (f SenderFunc) Open(ctx context.Context, account string) (Session, error) {
	return f(ctx, account)
}

// LPSSession is a Session over an lps.SMTPClient (which it closes).
type LPSSession struct{ Client *lps.SMTPClient }

// Submit sends raw through the lps client.
func (s LPSSession) Submit(ctx context.Context, from string, rcpts []string, raw []byte, dsn *DSN) (Result, error) {
	var d *lps.DSN
	if dsn != nil {
		d = &lps.DSN{Return: dsn.Return, Notify: dsn.Notify, EnvelopeID: dsn.EnvelopeID}
	}
	res, err := s.Client.Submit(ctx, from, rcpts, bytes.NewReader(raw), d)
	if err != nil {
		return Result{}, err
	}
	return Result{Response: res.Response}, nil
}

// Close ends the SMTP session.
func (s LPSSession) Close() error { return s.Client.Close() }

// permanent reports whether err is a permanent refusal of the message (no retry).
func permanent(err error) bool {
	var se *lps.SendError
	return errors.As(err, &se) && se.Permanent
}
