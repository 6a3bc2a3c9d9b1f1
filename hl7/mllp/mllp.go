// Package mllp sends HL7 v2 messages over the Minimal Lower Layer Protocol (HL7 v2.6 Appendix C,
// MLLP release 2): each message is framed as 0x0B … 0x1C 0x0D on a TCP connection and the
// receiver answers with one framed acknowledgment. The CI-SIS volet "Transmission LPS de
// documents CDA reçus par courriel MSSanté" recommends it "pour gérer au mieux les ACK".
//
//	ack, err := mllp.Send(ctx, "dpi.hopital.example:2575", msg) // one connection per message
//	if err != nil { … }   // dial, timeout, framing, or an ACK for another message: send again later
//	ack.Accepted()        // AA; else ack.Retry() and ack.Errors (package hl7)
package mllp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/mssante/mssante/hl7"
)

// Frame bytes (MLLP).
const (
	StartBlock = 0x0B
	EndBlock   = 0x1C
	CR         = 0x0D
)

// Defaults of Client.
const (
	DefaultDialTimeout = 10 * time.Second
	DefaultAckTimeout  = 60 * time.Second
	DefaultMaxFrame    = 1 << 20 // an ACK is small; 1 MiB bounds what a peer can make us buffer
)

var (
	// ErrFrame: the peer sent bytes that are not an MLLP frame (no start block, or data after
	// the end block that is not CR). The connection is closed; send again later.
	ErrFrame = errors.New("mllp: malformed frame")
	// ErrTooLarge: the peer's frame exceeds Client.MaxFrame.
	ErrTooLarge = errors.New("mllp: frame too large")
	// ErrControlID: the ACK's MSA-2 is not the MSH-10 of the message sent; the exchange is out
	// of step and the message must be sent again.
	ErrControlID = errors.New("mllp: ACK for another message (MSA-2 does not match MSH-10)")
	// ErrInvalidMessage: the message to send is not HL7 (no MSH-10), or contains a frame byte.
	ErrInvalidMessage = errors.New("mllp: message cannot be framed")
)

// Client sends messages. The zero value uses the defaults.
type Client struct {
	DialTimeout time.Duration // 0: DefaultDialTimeout
	// AckTimeout bounds writing the message and reading its ACK; 0: DefaultAckTimeout.
	AckTimeout time.Duration
	MaxFrame   int // 0: DefaultMaxFrame
	// Dial opens the connection; nil uses net.Dialer (TCP). Set it for TLS (tls.Dialer.DialContext).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Send sends msg to addr with the default Client.
func Send(ctx context.Context, addr string, msg []byte) (hl7.Ack, error) {
	var c Client
	return c.Send(ctx, addr, msg)
}

// Send opens a connection to addr, sends msg in one frame, reads one framed ACK, checks that its
// MSA-2 is msg's MSH-10, and closes the connection. Any well-formed ACK is returned with a nil
// error, AE and AR included (see hl7.Ack.Accepted, Retry, Err); an error means the outcome is
// unknown and the message should be sent again (the record system dedups on MSH-10 only if it
// wants to, so the caller keeps the same control id).
func (c *Client) Send(ctx context.Context, addr string, msg []byte) (hl7.Ack, error) {
	id, err := controlID(msg)
	if err != nil {
		return hl7.Ack{}, err
	}
	conn, err := c.dial(ctx, addr)
	if err != nil {
		return hl7.Ack{}, fmt.Errorf("mllp dial %s: %w", addr, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if err := conn.SetDeadline(time.Now().Add(or(c.AckTimeout, DefaultAckTimeout))); err != nil {
		return hl7.Ack{}, fmt.Errorf("mllp to %s: %w", addr, err)
	}
	ack, err := exchange(conn, msg, or(c.MaxFrame, DefaultMaxFrame))
	if err != nil {
		if ctx.Err() != nil {
			err = errors.Join(ctx.Err(), err)
		}
		return hl7.Ack{}, fmt.Errorf("mllp to %s: %w", addr, err)
	}
	if ack.ControlID != id {
		return ack, fmt.Errorf("mllp to %s: %w: got %q, want %q", addr, ErrControlID, ack.ControlID, id)
	}
	return ack, nil
}

func (c *Client) dial(ctx context.Context, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, or(c.DialTimeout, DefaultDialTimeout))
	defer cancel()
	if c.Dial != nil {
		return c.Dial(ctx, "tcp", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

func exchange(conn net.Conn, msg []byte, max int) (hl7.Ack, error) {
	if err := WriteFrame(conn, msg); err != nil {
		return hl7.Ack{}, fmt.Errorf("writing the message: %w", err)
	}
	data, err := ReadFrame(bufio.NewReader(conn), max)
	if err != nil {
		return hl7.Ack{}, fmt.Errorf("reading the ACK: %w", err)
	}
	return hl7.ParseAck(data)
}

func controlID(msg []byte) (string, error) {
	if bytes.IndexByte(msg, StartBlock) >= 0 || bytes.IndexByte(msg, EndBlock) >= 0 {
		return "", fmt.Errorf("%w: it contains 0x0B or 0x1C", ErrInvalidMessage)
	}
	end := bytes.IndexAny(msg, "\r\n")
	if end < 0 {
		end = len(msg)
	}
	m, err := hl7.Parse(msg[:end])
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	id := m.Segments[0].Value(10, 1)
	if id == "" {
		return "", fmt.Errorf("%w: no MSH-10", ErrInvalidMessage)
	}
	return id, nil
}

// WriteFrame writes msg framed: 0x0B, msg, 0x1C 0x0D, in one write.
func WriteFrame(w io.Writer, msg []byte) error {
	buf := make([]byte, 0, len(msg)+3)
	buf = append(buf, StartBlock)
	buf = append(buf, msg...)
	buf = append(buf, EndBlock, CR)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame and returns its content. Bytes before the start block are refused,
// and so is a frame longer than max bytes. io.EOF before any byte means the peer closed.
func ReadFrame(r *bufio.Reader, max int) ([]byte, error) {
	b, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	if b != StartBlock {
		return nil, fmt.Errorf("%w: byte 0x%02X before the start block", ErrFrame, b)
	}
	var out []byte
	for {
		b, err := r.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrFrame, unexpected(err))
		}
		if b == EndBlock {
			break
		}
		if len(out) >= max {
			return nil, ErrTooLarge
		}
		out = append(out, b)
	}
	b, err = r.ReadByte()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFrame, unexpected(err))
	}
	if b != CR {
		return nil, fmt.Errorf("%w: 0x%02X after the end block", ErrFrame, b)
	}
	return out, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
