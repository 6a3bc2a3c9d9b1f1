package hl7

import (
	"os"
	"reflect"
	"testing"
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
