package hl7

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/mssante/mssante/cda"
)

// FuzzParse: the reader never panics on outside input (ACKs of record systems), and what it
// reads, Encode writes back to the same message.
func FuzzParse(f *testing.F) {
	for _, s := range []string{ackAA, ackVersion, ackUnknown, ackRejected,
		"MSH#*%$@#A#B\rPID###1*2@3%4*x$S$y\r", "MSH|^~\\&|A\nMSA|AA|1\n", `MSH|^~\&|\X0D\|\.br\|\Xzz\|\E`} {
		f.Add([]byte(s))
	}
	if g, err := os.ReadFile("testdata/n3-cr-imagerie.mdm.golden"); err == nil {
		f.Add(g)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		again, err := Parse(m.Encode())
		if err != nil {
			t.Fatalf("Parse(Encode(m)) = %v\nencoded %q", err, m.Encode())
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("Parse(Encode(m)) differs:\n%+v\n%+v", m, again)
		}
	})
}

// FuzzParseAck: ParseAck never panics, and Retry never holds for an accepted message.
func FuzzParseAck(f *testing.F) {
	for _, s := range []string{ackAA, ackVersion, ackUnknown, ackRejected, "MSH|^~\\&|A\rMSA|CA|1\rERR|MSH^1^2^101&Required\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseAck(data)
		if err != nil {
			return
		}
		if a.Code == "" {
			t.Fatal("an ACK without MSA-1")
		}
		if a.Accepted() && (a.Retry() || a.Err() != nil) {
			t.Fatalf("accepted ACK %+v retried or in error", a)
		}
	})
}

// FuzzBuildMDM: whatever CDA a sender sends, the MDM written for it is one message of the
// fixed segments, which our reader reads back with PID-3 = the patient ids and OBX 1 = the CDA.
func FuzzBuildMDM(f *testing.F) {
	for _, p := range fixtures {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := cda.Parse(data)
		if err != nil {
			return
		}
		out, err := BuildMDM(&Document{CDA: data, Header: h, Mail: testMail()}, testEnvelope())
		if err != nil {
			if !errors.Is(err, ErrMissing) {
				t.Fatalf("BuildMDM = %v", err)
			}
			return
		}
		m, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(BuildMDM) = %v", err)
		}
		if len(m.Segments) != 14+len(testMail().To)+len(testMail().ReplyTo) {
			t.Fatalf("%d segments", len(m.Segments))
		}
		pid, _ := m.Segment("PID")
		if len(pid.Field(3)) != len(patientIDs(h)) {
			t.Fatalf("PID-3 has %d ids, want %d", len(pid.Field(3)), len(patientIDs(h)))
		}
		if txa, _ := m.Segment("TXA"); txa.Value(12, 1) == "" {
			t.Fatal("TXA-12 empty")
		}
		obx := m.All("OBX")
		if got, err := base64.StdEncoding.DecodeString(obx[0].Value(5, 5)); err != nil || !bytes.Equal(got, data) {
			t.Fatal("OBX 1 is not the CDA")
		}
	})
}
