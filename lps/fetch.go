package lps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// ErrNotFetched means some messages asked of FetchBodies were not handed out: the server did not
// return them (expunged meanwhile) or they exceed Options.MaxBody. The others were. The session
// stays usable; the error names the UIDs.
var ErrNotFetched = errors.New("messages not fetched")

// FetchedMessage is one message as FetchBodies hands it out, read from the connection as it
// arrives. Its fields are those the server sent before the body (servers send them in the
// order asked: UID, size, flags, date, then the body).
type FetchedMessage struct {
	UID          uint32
	Size         int64 // RFC822.SIZE
	Flags        []string
	InternalDate time.Time
	ModSeq       uint64 // with CONDSTORE
	// Body is the whole message (BODY.PEEK[]: not marked seen), BodySize bytes long. It reads
	// from the connection and is valid only during the call of f; what f leaves unread is
	// discarded.
	Body     io.Reader
	BodySize int64
}

// fetchItems is the request FetchBodies sends, for the audit trail.
const fetchItems = " (UID RFC822.SIZE FLAGS INTERNALDATE BODY.PEEK[])"

// FetchBodies streams the given messages of the selected mailbox to f, one UID FETCH command for
// them all, each body read from the connection while f reads it: memory stays bounded by what f
// keeps, whatever the number of messages. f is called once per message, in the server's order;
// an error from f stops the calls, the rest of the answer is read and dropped, and FetchBodies
// returns that error (wrapped). Messages the server does not return, and those over
// Options.MaxBody (skipped unread), make it return an error wrapping ErrNotFetched after the
// others were handed out.
//
// When the session breaks mid-way, the messages not yet handed out (f not called, or its call
// failed while reading a body cut short) are asked again once on a reopened session, as for other
// read-only calls: f may thus see a UID a second time only after a failed call for it.
func (cl *IMAPClient) FetchBodies(ctx context.Context, uids []uint32, f func(m *FetchedMessage) error) error {
	if len(uids) == 0 {
		return nil
	}
	req := "UID FETCH " + uidSet(uids).String() + fetchItems
	b := &bodiesFetch{cl: cl, f: f, handed: make(map[uint32]bool, len(uids)), refused: map[uint32]bool{}}
	return cl.do(ctx, ActionFetch, req, true, func(c *imapclient.Client) (string, error) {
		if b.ferr != nil { // f failed before the session broke: do not call it again
			return "", &localError{b.ferr}
		}
		rest := slices.DeleteFunc(slices.Clone(uids), func(u uint32) bool { return b.handed[u] || b.refused[u] })
		if len(rest) > 0 {
			if err := b.run(c, rest); err != nil {
				return "", err
			}
		}
		if b.ferr != nil {
			return "", &localError{b.ferr}
		}
		var missing []uint32
		for _, u := range uids {
			if !b.handed[u] {
				missing = append(missing, u)
			}
		}
		if len(missing) > 0 {
			return "", &localError{fmt.Errorf("%w: %d of %d (UID %s): expunged meanwhile or over %d bytes",
				ErrNotFetched, len(missing), len(uids), uidSet(missing).String(), cl.opts.maxBody())}
		}
		return fmt.Sprintf("OK %d messages, %d bytes", len(b.handed), b.bytes), nil
	})
}

// bodiesFetch is the state of one FetchBodies across a reconnection.
type bodiesFetch struct {
	cl      *IMAPClient
	f       func(*FetchedMessage) error
	handed  map[uint32]bool // f returned nil
	refused map[uint32]bool // over MaxBody
	bytes   int64
	ferr    error // f's error: no more calls
}

// run sends one UID FETCH for uids and hands out what comes back. A returned error is the
// transport's or the server's; f's is kept in b.ferr.
func (b *bodiesFetch) run(c *imapclient.Client, uids []uint32) error {
	opts := &imap.FetchOptions{UID: true, RFC822Size: true, Flags: true, InternalDate: true, ModSeq: b.cl.condstore,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}}
	cmd := c.Fetch(uidSet(uids), opts)
	defer cmd.Close()
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		if b.ferr != nil {
			continue // Next reads and drops the previous message
		}
		if err := b.message(msg); err != nil {
			// The body could not be read: close the connection and wait for go-imap's reader to
			// stop before Close drains the command, which reads that body again.
			_ = c.Close()
			return err
		}
	}
	return cmd.Close()
}

// message reads the items of one FETCH response and calls f on its body.
func (b *bodiesFetch) message(msg *imapclient.FetchMessageData) error {
	var m FetchedMessage
	hasBody := false
	for item := msg.Next(); item != nil; item = msg.Next() {
		switch it := item.(type) {
		case imapclient.FetchItemDataUID:
			m.UID = uint32(it.UID)
		case imapclient.FetchItemDataRFC822Size:
			m.Size = it.Size
		case imapclient.FetchItemDataFlags:
			m.Flags = make([]string, len(it.Flags))
			for i, fl := range it.Flags {
				m.Flags[i] = string(fl)
			}
		case imapclient.FetchItemDataInternalDate:
			m.InternalDate = it.Time
		case imapclient.FetchItemDataModSeq:
			m.ModSeq = it.ModSeq
		case imapclient.FetchItemDataBodySection:
			if it.Literal == nil || hasBody || m.UID == 0 || b.handed[m.UID] {
				continue
			}
			hasBody = true
			m.BodySize = it.Literal.Size()
			if m.BodySize > b.cl.opts.maxBody() {
				b.refused[m.UID] = true
				continue
			}
			body := &countingReader{r: it.Literal, size: m.BodySize}
			m.Body = body
			err := b.f(&m)
			b.bytes += body.n
			if body.err != nil { // the connection failed under f: not handed, asked again
				return body.err
			}
			if err != nil {
				b.ferr = err
				return nil
			}
			b.handed[m.UID] = true
		}
	}
	return nil
}

// countingReader counts the bytes read and keeps the first error other than io.EOF; a literal
// that ends before its announced size (the connection closed) is io.ErrUnexpectedEOF.
type countingReader struct {
	r    io.Reader
	size int64
	n    int64
	err  error
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err == io.EOF && c.n < c.size {
		err = fmt.Errorf("%w: body cut at %d of %d bytes", io.ErrUnexpectedEOF, c.n, c.size)
	}
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}
