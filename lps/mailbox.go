package lps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Mailbox is one folder of the account.
type Mailbox struct {
	Name  string   `json:"name"`
	Delim string   `json:"delim,omitempty"`
	Attrs []string `json:"attrs,omitempty"` // "\Sent", "\Trash", "\Noselect"…
}

// MailboxStatus is the state of a selected mailbox.
type MailboxStatus struct {
	Name          string `json:"name"`
	Messages      uint32 `json:"messages"`
	UIDValidity   uint32 `json:"uidvalidity"`
	UIDNext       uint32 `json:"uidnext"`
	HighestModSeq uint64 `json:"highestmodseq,omitempty"` // CONDSTORE, when offered
}

// Summary is the envelope and flags of a message, as a mailbox list shows them.
type Summary struct {
	UID          uint32    `json:"uid"`
	From         []string  `json:"from"`
	To           []string  `json:"to,omitempty"`
	Subject      string    `json:"subject"`
	Date         time.Time `json:"date"`
	MessageID    string    `json:"message_id,omitempty"`
	Flags        []string  `json:"flags"`
	Size         int64     `json:"size"`
	InternalDate time.Time `json:"internal_date"`
	ModSeq       uint64    `json:"modseq,omitempty"`
}

// Flags this package names.
const (
	FlagSeen    = `\Seen`
	FlagDeleted = `\Deleted`
	FlagMDNSent = "$MDNSent" // RFC 3503: a disposition notification was sent (ECO.2.x MDN)
)

// Mailboxes lists the account's mailboxes.
func (cl *IMAPClient) Mailboxes(ctx context.Context) ([]Mailbox, error) {
	var out []Mailbox
	err := cl.do(ctx, ActionList, `LIST "" "*"`, true, func(c *imapclient.Client) (string, error) {
		list, err := c.List("", "*", nil).Collect()
		if err != nil {
			return "", err
		}
		out = out[:0]
		for _, m := range list {
			mb := Mailbox{Name: m.Mailbox}
			if m.Delim != 0 {
				mb.Delim = string(m.Delim)
			}
			for _, a := range m.Attrs {
				mb.Attrs = append(mb.Attrs, string(a))
			}
			out = append(out, mb)
		}
		return fmt.Sprintf("OK %d mailboxes", len(out)), nil
	})
	return out, err
}

// Select opens a mailbox; later calls act on it, and a reopened session selects it again. With
// CONDSTORE offered, the selection enables it and reports HIGHESTMODSEQ.
func (cl *IMAPClient) Select(ctx context.Context, name string) (*MailboxStatus, error) {
	var st *MailboxStatus
	err := cl.do(ctx, ActionList, "SELECT "+quote(name), true, func(c *imapclient.Client) (string, error) {
		d, err := c.Select(name, &imap.SelectOptions{CondStore: cl.condstore}).Wait()
		if err != nil {
			return "", err
		}
		cl.selected = name
		st = &MailboxStatus{Name: name, Messages: d.NumMessages, UIDValidity: d.UIDValidity,
			UIDNext: uint32(d.UIDNext), HighestModSeq: d.HighestModSeq}
		return fmt.Sprintf("OK %d messages", d.NumMessages), nil
	})
	return st, err
}

// Criteria selects messages for Search. The zero value matches every message.
type Criteria struct {
	Unseen       bool
	Since        time.Time // internal date, day precision
	Before       time.Time
	From         string
	Subject      string
	Text         string
	Header       [][2]string // header name and value substring
	ChangedSince uint64      // MODSEQ > ChangedSince (CONDSTORE)
}

func (q Criteria) imap() *imap.SearchCriteria {
	c := &imap.SearchCriteria{Since: q.Since, Before: q.Before}
	if q.Unseen {
		c.NotFlag = []imap.Flag{imap.FlagSeen}
	}
	if q.From != "" {
		c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: "From", Value: q.From})
	}
	if q.Subject != "" {
		c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: "Subject", Value: q.Subject})
	}
	for _, h := range q.Header {
		c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: h[0], Value: h[1]})
	}
	if q.Text != "" {
		c.Text = []string{q.Text}
	}
	if q.ChangedSince > 0 {
		c.ModSeq = &imap.SearchCriteriaModSeq{ModSeq: q.ChangedSince}
	}
	return c
}

// Search returns the UIDs of the selected mailbox's messages matching q, in ascending order.
func (cl *IMAPClient) Search(ctx context.Context, q Criteria) ([]uint32, error) {
	var out []uint32
	err := cl.do(ctx, ActionList, "UID SEARCH", true, func(c *imapclient.Client) (string, error) {
		d, err := c.UIDSearch(q.imap(), nil).Wait()
		if err != nil {
			return "", err
		}
		out = out[:0]
		if set, ok := d.All.(imap.UIDSet); ok {
			if uids, ok := set.Nums(); ok {
				for _, u := range uids {
					out = append(out, uint32(u))
				}
			}
		}
		return fmt.Sprintf("OK %d messages", len(out)), nil
	})
	return out, err
}

func uidSet(uids []uint32) imap.UIDSet {
	var s imap.UIDSet
	for _, u := range uids {
		s.AddNum(imap.UID(u))
	}
	return s
}

func uidList(uids []uint32) string {
	var b strings.Builder
	for i, u := range uids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(u), 10))
	}
	return b.String()
}

// Summaries fetches the envelope, flags, size and dates of the given messages of the selected
// mailbox (and MODSEQ with CONDSTORE).
func (cl *IMAPClient) Summaries(ctx context.Context, uids []uint32) ([]Summary, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	var out []Summary
	req := "UID FETCH " + uidList(uids) + " (UID FLAGS ENVELOPE INTERNALDATE RFC822.SIZE)"
	err := cl.do(ctx, ActionList, req, true, func(c *imapclient.Client) (string, error) {
		opts := &imap.FetchOptions{UID: true, Flags: true, Envelope: true, InternalDate: true,
			RFC822Size: true, ModSeq: cl.condstore}
		msgs, err := c.Fetch(uidSet(uids), opts).Collect()
		if err != nil {
			return "", err
		}
		out = out[:0]
		for _, m := range msgs {
			out = append(out, summary(m))
		}
		return fmt.Sprintf("OK %d messages", len(out)), nil
	})
	return out, err
}

func summary(m *imapclient.FetchMessageBuffer) Summary {
	s := Summary{UID: uint32(m.UID), Size: m.RFC822Size, InternalDate: m.InternalDate, ModSeq: m.ModSeq,
		Flags: []string{}, From: []string{}}
	for _, f := range m.Flags {
		s.Flags = append(s.Flags, string(f))
	}
	if e := m.Envelope; e != nil {
		s.Subject, s.Date = e.Subject, e.Date
		if len(e.MessageID) > 0 {
			s.MessageID = e.MessageID
		}
		for _, a := range e.From {
			s.From = append(s.From, address(a))
		}
		for _, a := range e.To {
			s.To = append(s.To, address(a))
		}
	}
	return s
}

func address(a imap.Address) string {
	if a.Name != "" {
		return fmt.Sprintf("%s <%s>", a.Name, a.Addr())
	}
	return a.Addr()
}

// FetchBody streams the whole message uid of the selected mailbox to w, without marking it seen
// (BODY.PEEK[]), in bounded memory; a message over Options.MaxBody is refused. It returns the
// number of bytes written. A failure after bytes reached w is not retried.
func (cl *IMAPClient) FetchBody(ctx context.Context, uid uint32, w io.Writer) (int64, error) {
	var n int64
	req := fmt.Sprintf("UID FETCH %d BODY.PEEK[]", uid)
	err := cl.do(ctx, ActionFetch, req, true, func(c *imapclient.Client) (string, error) {
		if n > 0 {
			return "", &localError{fmt.Errorf("%w: interrupted after %d bytes", ErrConnBroken, n)}
		}
		section := &imap.FetchItemBodySection{Peek: true}
		cmd := c.Fetch(uidSet([]uint32{uid}), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
		defer cmd.Close()
		found := false
		for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
			for item := msg.Next(); item != nil; item = msg.Next() {
				body, ok := item.(imapclient.FetchItemDataBodySection)
				if !ok || body.Literal == nil || found {
					continue
				}
				found = true
				if size := body.Literal.Size(); size > cl.opts.maxBody() {
					return "", &localError{fmt.Errorf("message of %d bytes exceeds the limit of %d", size, cl.opts.maxBody())}
				}
				k, err := io.Copy(w, io.LimitReader(body.Literal, cl.opts.maxBody()))
				n += k
				if err != nil {
					_ = c.Close() // go-imap's reader stopped before the deferred Close reads the body again
					return "", err
				}
			}
		}
		if err := cmd.Close(); err != nil {
			return "", err
		}
		if !found {
			return "", &localError{fmt.Errorf("no message with UID %d", uid)}
		}
		return fmt.Sprintf("OK %d bytes", n), nil
	})
	return n, err
}

// FlagOp says how SetFlags changes the flags.
type FlagOp int

const (
	FlagsAdd FlagOp = iota
	FlagsRemove
	FlagsReplace
)

// SetFlags adds, removes or replaces flags (\Seen, $MDNSent…) on messages of the selected mailbox.
func (cl *IMAPClient) SetFlags(ctx context.Context, uids []uint32, op FlagOp, flags ...string) error {
	ops := map[FlagOp]imap.StoreFlagsOp{FlagsAdd: imap.StoreFlagsAdd, FlagsRemove: imap.StoreFlagsDel, FlagsReplace: imap.StoreFlagsSet}
	sign := map[FlagOp]string{FlagsAdd: "+", FlagsRemove: "-", FlagsReplace: ""}
	req := fmt.Sprintf("UID STORE %s %sFLAGS.SILENT (%s)", uidList(uids), sign[op], strings.Join(flags, " "))
	return cl.do(ctx, ActionFlag, req, true, func(c *imapclient.Client) (string, error) {
		fl := make([]imap.Flag, len(flags))
		for i, f := range flags {
			fl[i] = imap.Flag(f)
		}
		if err := c.Store(uidSet(uids), &imap.StoreFlags{Op: ops[op], Silent: true, Flags: fl}, nil).Close(); err != nil {
			return "", err
		}
		return "OK", nil
	})
}

// Create creates the folder name (IMAP CREATE); a folder that already exists (NO
// [ALREADYEXISTS], RFC 5530) is not an error. It is recorded under ActionMove: mssante creates
// a folder only as the destination of a move.
func (cl *IMAPClient) Create(ctx context.Context, name string) error {
	req := "CREATE " + quote(name)
	return cl.do(ctx, ActionMove, req, false, func(c *imapclient.Client) (string, error) {
		if err := c.Create(name, nil).Wait(); err != nil {
			var ie *imap.Error
			if errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists {
				return statusLine(ie), nil
			}
			return "", err
		}
		return "OK", nil
	})
}

// Move moves messages of the selected mailbox to dest (MOVE, or COPY+EXPUNGE when not offered).
func (cl *IMAPClient) Move(ctx context.Context, uids []uint32, dest string) error {
	req := "UID MOVE " + uidList(uids) + " " + quote(dest)
	return cl.do(ctx, ActionMove, req, false, func(c *imapclient.Client) (string, error) {
		if _, err := c.Move(uidSet(uids), dest).Wait(); err != nil {
			return "", err
		}
		return "OK", nil
	})
}

// Delete marks messages \Deleted and expunges them (UID EXPUNGE with UIDPLUS, so that only these
// messages go).
func (cl *IMAPClient) Delete(ctx context.Context, uids []uint32) error {
	req := "UID STORE " + uidList(uids) + ` +FLAGS.SILENT (\Deleted) UID EXPUNGE`
	return cl.do(ctx, ActionDelete, req, false, func(c *imapclient.Client) (string, error) {
		set := uidSet(uids)
		if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			return "", err
		}
		var err error
		if c.Caps().Has(imap.CapUIDPlus) || c.Caps().Has(imap.CapIMAP4rev2) {
			err = c.UIDExpunge(set).Close()
		} else {
			err = c.Expunge().Close()
		}
		if err != nil {
			return "", err
		}
		return "OK", nil
	})
}

// Append stores a message of size bytes read from r in mailbox (the Sent folder after a
// submission), with flags, and returns its UID when the server tells it (UIDPLUS).
func (cl *IMAPClient) Append(ctx context.Context, mailbox string, flags []string, r io.Reader, size int64) (uint32, error) {
	var uid uint32
	req := fmt.Sprintf("APPEND %s (%s) {%d}", quote(mailbox), strings.Join(flags, " "), size)
	err := cl.do(ctx, ActionAppend, req, false, func(c *imapclient.Client) (string, error) {
		fl := make([]imap.Flag, len(flags))
		for i, f := range flags {
			fl[i] = imap.Flag(f)
		}
		cmd := c.Append(mailbox, size, &imap.AppendOptions{Flags: fl})
		n, err := io.Copy(cmd, io.LimitReader(r, size))
		if err == nil && n != size {
			err = fmt.Errorf("message shorter than announced: %d of %d bytes", n, size)
		}
		if err != nil {
			_ = cmd.Close()
			return "", errors.Join(ErrConnBroken, err)
		}
		if err := cmd.Close(); err != nil {
			return "", err
		}
		d, err := cmd.Wait()
		if err != nil {
			return "", err
		}
		uid = uint32(d.UID)
		return fmt.Sprintf("OK [APPENDUID %d %d]", d.UIDValidity, d.UID), nil
	})
	return uid, err
}

func quote(s string) string { return strconv.Quote(s) }
