package mailbox

import (
	"context"
	"time"

	"github.com/mssante/mssante/lps"
)

// Session is an IMAP session of the caller's own (Account.OpenSession) for a delivery room that
// keeps a folder synchronised and files what it has processed: the reads of internal/mailstore's
// sync (it is a mailstore.Source), moves to a folder created when missing, and IDLE waits.
type Session struct {
	*lps.IMAPClient
	created map[string]bool
}

// OpenSession dials an IMAP session with the account's servers, credentials, TLS policy and
// audit trail (as DialIMAP). The caller closes it; the account's own session is not affected.
func (a *Account) OpenSession(ctx context.Context) (*Session, error) {
	ic, err := a.DialIMAP(ctx)
	if err != nil {
		return nil, err
	}
	return &Session{IMAPClient: ic, created: map[string]bool{}}, nil
}

// Move moves uids of folder to dest. dest is created first when it is missing (IMAP CREATE, an
// existing folder is not an error), once per session: a folder named by configuration need not
// exist beforehand.
func (s *Session) Move(ctx context.Context, folder string, uids []uint32, dest string) error {
	if !s.created[dest] {
		if err := s.Create(ctx, dest); err != nil {
			return err
		}
		s.created[dest] = true
	}
	if _, err := s.Select(ctx, folder); err != nil {
		return err
	}
	return s.IMAPClient.Move(ctx, uids, dest)
}

// Wait selects folder and IDLEs until the server announces a change or d passes. A broken
// session is an error; the caller opens a new one.
func (s *Session) Wait(ctx context.Context, folder string, d time.Duration) error {
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
