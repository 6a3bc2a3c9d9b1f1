package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mssante/mssante/hl7"
	"github.com/mssante/mssante/hl7/mllp"
	"github.com/mssante/mssante/internal/testkit"
)

// hl7Doc is a received document of the gateway, with a synthetic CDA of the repository.
func hl7Doc(t *testing.T) *Document {
	t.Helper()
	cda, err := os.ReadFile(filepath.Join(testkit.ModuleRoot(t), "cda", "testdata", "n3-cr-biologie.xml"))
	if err != nil {
		t.Fatal(err)
	}
	return &Document{ID: 7, Mailbox: "dpi@hopital.test.mssante.fr", From: "labo@labo.test.mssante.fr",
		ReceivedAt: time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC), MessageID: "abc@labo.test.mssante.fr",
		DocumentID: "1.2.250.1.999.1^42", Subject: "CR de biologie", CDA: cda,
		Mail: []byte("From: <labo@labo.test.mssante.fr>\r\nTo: <dpi@hopital.test.mssante.fr>\r\nSubject: CR de biologie\r\n\r\nCompte rendu ci-joint.\r\n")}
}

// mllpPeer is a record system on loopback answering each MDM with the ACK answer builds.
func mllpPeer(t *testing.T, answer func(m *hl7.Message) []byte) (addr string, got chan *hl7.Message) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got = make(chan *hl7.Message, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			frame, err := mllp.ReadFrame(bufio.NewReader(c), 1<<24)
			if err == nil {
				if m, err := hl7.Parse(frame); err == nil {
					got <- m
					_ = mllp.WriteFrame(c, answer(m))
				}
			}
			c.Close()
		}
	}()
	return ln.Addr().String(), got
}

// CI-SIS "Transmission LPS de documents CDA reçus par courriel MSSanté": one MDM^T02 per received
// document, the same control id on a repeated delivery; ACK AA → integrated, AE 904 → rejected with
// the reason, AE 902 (patient not yet known) → retried.
func TestHL7Delivery_mllpAcks(t *testing.T) {
	ctx := context.Background()
	d := hl7Doc(t)
	for _, tc := range []struct {
		name    string
		code    hl7.AckCode
		errs    []hl7.AckError
		want    string
		retried bool
	}{
		{"AA", hl7.AckCode("AA"), nil, AckIntegrated, false},
		{"AE 904", hl7.AckCode("AE"), []hl7.AckError{{Code: hl7.ErrCodeINSMismatch, Text: "INS non concordante"}}, AckRejected, false},
		{"AE 902", hl7.AckCode("AE"), []hl7.AckError{{Code: hl7.ErrCodeUnknownPatient, Text: "patient inconnu"}}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, got := mllpPeer(t, func(m *hl7.Message) []byte {
				return hl7.BuildAck(m, tc.code, "ACK1", time.Now(), tc.errs...)
			})
			h := &HL7Delivery{Addr: addr, Envelope: hl7.Envelope{SendingApplication: "MSSANTE", ReceivingApplication: "DPI"}}
			out, err := h.Deliver(ctx, d)
			var pe *PermanentError
			switch {
			case tc.retried && (err == nil || errors.As(err, &pe)):
				t.Fatalf("Deliver = %+v, %v; want a retried error", out, err)
			case !tc.retried && (err != nil || out.Ack != tc.want):
				t.Fatalf("Deliver = %+v, %v; want ack %s", out, err, tc.want)
			case tc.want == AckRejected && out.Reason == "":
				t.Error("rejected without a reason")
			}
			m := <-got
			msh, _ := m.Segment("MSH")
			if v := msh.Value(9, 1) + "^" + msh.Value(9, 2); v != "MDM^T02" {
				t.Errorf("MSH-9 = %q", v)
			}
			if v := msh.Value(10, 1); v != ControlID(d) {
				t.Errorf("MSH-10 = %q, want the document's stable control id %q", v, ControlID(d))
			}
		})
	}
}

// --hl7-dir: the MDM file of a document is the same bytes under the same name when delivered again
// (after a crash), and carries the CDA in OBX 1.
func TestHL7Delivery_dirIdempotent(t *testing.T) {
	dir := t.TempDir()
	d := hl7Doc(t)
	h := &HL7Delivery{Dir: dir}
	if _, err := h.Deliver(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, ControlID(d)+".hl7")
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Deliver(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(path)
	if !bytes.Equal(first, again) {
		t.Error("a second delivery wrote other bytes")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files, want 1", len(entries))
	}
	m, err := hl7.Parse(first)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.All("OBX")) < 2 {
		t.Errorf("%d OBX, want the CDA and the mail", len(m.All("OBX")))
	}
	bad := *d
	bad.CDA = []byte("<pas du CDA")
	var pe *PermanentError
	if _, err := h.Deliver(context.Background(), &bad); !errors.As(err, &pe) {
		t.Errorf("unreadable CDA: %v, want a PermanentError", err)
	}
}
