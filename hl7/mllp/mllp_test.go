package mllp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/hl7"
)

// recordSystem is a tiny MLLP peer standing for a DPI: it reads one frame per connection,
// records the bytes it received and answers what reply returns (nil: no answer, the connection
// stays open until the test ends).
type recordSystem struct {
	addr     string
	received chan []byte
}

func newRecordSystem(t *testing.T, reply func(msg []byte) []byte) *recordSystem {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &recordSystem{addr: ln.Addr().String(), received: make(chan []byte, 16)}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go rs.serve(conn, reply, done)
		}
	}()
	return rs
}

func (rs *recordSystem) serve(conn net.Conn, reply func([]byte) []byte, done chan struct{}) {
	defer conn.Close()
	var raw bytes.Buffer
	msg, err := ReadFrame(bufio.NewReader(io.TeeReader(conn, &raw)), 64<<20)
	if err != nil {
		return
	}
	rs.received <- raw.Bytes()
	out := reply(msg)
	if out == nil {
		<-done
		return
	}
	_, _ = conn.Write(out)
}

// ackWith answers the message with BuildAck.
func ackWith(code hl7.AckCode, errs ...hl7.AckError) func([]byte) []byte {
	return func(msg []byte) []byte {
		m, err := hl7.Parse(msg)
		if err != nil {
			return frame([]byte("MSH|^~\\&|DPI\rMSA|AR|?\r"))
		}
		return frame(hl7.BuildAck(m, code, "ACK-1", time.Now(), errs...))
	}
}

func frame(b []byte) []byte {
	var buf bytes.Buffer
	_ = WriteFrame(&buf, b)
	return buf.Bytes()
}

// testMDM is an MDM of one of our synthetic CDA fixtures.
func testMDM(t *testing.T, controlID string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.FromSlash("../../cda/testdata/n3-cr-biologie.xml"))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := hl7.BuildMDM(&hl7.Document{CDA: data, Mail: hl7.Mail{MessageID: "1@essai.mssante.fr",
		From: hl7.Participant{Address: "labo@essai.mssante.fr"}}},
		hl7.Envelope{SendingApplication: "MSSANTE", ReceivingApplication: "DPI", ControlID: controlID,
			Time: time.Date(2026, 3, 12, 10, 0, 0, 0, cda.Paris())})
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// TestSend_accepted: the message goes out framed 0x0B … 0x1C 0x0D byte for byte, and the AA
// acknowledging its MSH-10 comes back (volet LPS/MSSanté: "MLLP … pour gérer au mieux les ACK").
func TestSend_accepted(t *testing.T) {
	rs := newRecordSystem(t, ackWith(hl7.AA))
	msg := testMDM(t, "CTRL-1")
	ack, err := Send(context.Background(), rs.addr, msg)
	if err != nil {
		t.Fatal(err)
	}
	if !ack.Accepted() || ack.ControlID != "CTRL-1" || ack.Err() != nil {
		t.Errorf("Send = %+v", ack)
	}
	if got, want := <-rs.received, append(append([]byte{0x0B}, msg...), 0x1C, 0x0D); !bytes.Equal(got, want) {
		t.Errorf("sent %d bytes %q…, want the framed message (%d bytes)", len(got), got[:min(len(got), 20)], len(want))
	}
}

// TestSend_rejected: AE and AR come back as an Ack with a nil error; the caller decides with
// Retry (902 unknown patient: later; 903 no INS: never).
func TestSend_rejected(t *testing.T) {
	tests := []struct {
		name  string
		code  hl7.AckCode
		err   hl7.AckError
		retry bool
	}{
		{"902 unknown patient", hl7.AE, hl7.AckError{Code: hl7.ErrCodeUnknownPatient, Text: "Identifiant de patient inconnu", Condition: hl7.ConditionApplication}, true},
		{"903 no INS", hl7.AE, hl7.AckError{Code: hl7.ErrCodeNoINS, Text: "INS non présent dans le document", Condition: hl7.ConditionApplication}, false},
		{"101 required field", hl7.AE, hl7.AckError{Code: "101", Text: "Required field missing", Location: "PID^1^5"}, false},
		{"AR", hl7.AR, hl7.AckError{Code: "207", Text: "Application error"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := newRecordSystem(t, ackWith(tt.code, tt.err))
			ack, err := Send(context.Background(), rs.addr, testMDM(t, "CTRL-2"))
			if err != nil {
				t.Fatal(err)
			}
			var re *hl7.RejectError
			if ack.Code != tt.code || ack.Retry() != tt.retry || !errors.As(ack.Err(), &re) || len(ack.Errors) != 1 || ack.Errors[0].Code != tt.err.Code {
				t.Errorf("Send = %+v retry %v, want %s retry %v", ack, ack.Retry(), tt.code, tt.retry)
			}
		})
	}
}

// TestSend_otherControlID: an ACK for another message is an error (the exchange is out of step).
func TestSend_otherControlID(t *testing.T) {
	rs := newRecordSystem(t, func([]byte) []byte {
		return frame([]byte("MSH|^~\\&|DPI|X|MSSANTE|X|20260312||ACK^T02^ACK|9|P|2.6\rMSA|AA|CTRL-OTHER\r"))
	})
	_, err := Send(context.Background(), rs.addr, testMDM(t, "CTRL-3"))
	if !errors.Is(err, ErrControlID) {
		t.Errorf("Send = %v, want ErrControlID", err)
	}
}

// TestSend_noAck: a record system that never answers times out (AckTimeout), and a cancelled
// context ends the wait.
func TestSend_noAck(t *testing.T) {
	rs := newRecordSystem(t, func([]byte) []byte { return nil })
	c := &Client{AckTimeout: 200 * time.Millisecond}
	if _, err := c.Send(context.Background(), rs.addr, testMDM(t, "CTRL-4")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Send = %v, want a deadline error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := Send(ctx, rs.addr, testMDM(t, "CTRL-5")); !errors.Is(err, context.Canceled) {
		t.Errorf("Send = %v, want context.Canceled", err)
	}
}

// TestSend_badPeer: garbage, an oversized frame, a closed connection and a refused dial are
// errors, never an Ack.
func TestSend_badPeer(t *testing.T) {
	tests := []struct {
		name  string
		reply []byte
		want  error
	}{
		{"no start block", []byte("MSA|AA|CTRL-6\r"), ErrFrame},
		{"no CR after end block", []byte("\x0bMSH|^~\\&|A\rMSA|AA|CTRL-6\r\x1cX"), ErrFrame},
		{"closed mid-frame", []byte("\x0bMSH|^~\\&|A\r"), io.ErrUnexpectedEOF},
		{"too large", append([]byte{0x0B}, bytes.Repeat([]byte("A"), 2048)...), ErrTooLarge},
		{"not an ACK", frame([]byte("MSH|^~\\&|A\rPID|1\r")), hl7.ErrNotAck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := newRecordSystem(t, func([]byte) []byte { return tt.reply })
			c := &Client{MaxFrame: 1024, AckTimeout: 5 * time.Second}
			if _, err := c.Send(context.Background(), rs.addr, testMDM(t, "CTRL-6")); !errors.Is(err, tt.want) {
				t.Errorf("Send = %v, want %v", err, tt.want)
			}
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Send(context.Background(), addr, testMDM(t, "CTRL-7")); err == nil {
		t.Error("Send to a closed port = nil error")
	}
}

// TestSend_invalidMessage: a message that cannot be framed or matched is refused before dialing.
func TestSend_invalidMessage(t *testing.T) {
	for _, msg := range []string{"PID|1\r", "MSH|^~\\&|A\r", "MSH|^~\\&|A|||||||1\rOBX|\x1c\r"} {
		if _, err := Send(context.Background(), "127.0.0.1:1", []byte(msg)); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("Send(%q) = %v, want ErrInvalidMessage", msg, err)
		}
	}
}

// TestFrame_roundTrip: ReadFrame reads what WriteFrame writes, frame after frame.
func TestFrame_roundTrip(t *testing.T) {
	var buf bytes.Buffer
	msgs := []string{"MSH|^~\\&|A\rMSA|AA|1\r", "", "MSH|^~\\&|B\r"}
	for _, m := range msgs {
		if err := WriteFrame(&buf, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	r := bufio.NewReader(&buf)
	for _, m := range msgs {
		got, err := ReadFrame(r, 1024)
		if err != nil || string(got) != m {
			t.Errorf("ReadFrame = %q, %v, want %q", got, err, m)
		}
	}
	if _, err := ReadFrame(r, 1024); err != io.EOF {
		t.Errorf("ReadFrame at the end = %v, want io.EOF", err)
	}
}

// FuzzReadFrame: frames from a peer never panic, never exceed the bound, and what is read is
// what a frame carried.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("\x0bMSH|^~\\&|A\rMSA|AA|1\r\x1c\r"), 64)
	f.Add([]byte("\x0b\x1c\r\x0bA\x1c\r"), 4)
	f.Add([]byte("garbage"), 8)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		got, err := ReadFrame(bufio.NewReader(bytes.NewReader(data)), max)
		if err != nil {
			return
		}
		if len(got) > max || bytes.IndexByte(got, EndBlock) >= 0 || !bytes.HasPrefix(data, append([]byte{StartBlock}, got...)) {
			t.Fatalf("ReadFrame(%q, %d) = %q", data, max, got)
		}
	})
}
