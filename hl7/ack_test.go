package hl7

import (
	"errors"
	"strings"
	"testing"
)

// Acknowledgments shaped as the volet's examples (profils-messages.md, "Le message
// d'acquittement HL7v2"), with our own names.
const (
	ackAA       = "MSH|^~\\&|DPI|CH_ESSAI|MSSANTE|CH_ESSAI|20260312153006||ACK^T02^ACK|A-1|P|2.6|||AL|AL|FRA|UNICODE UTF-8\rMSA|AA|MSG-0001\r"
	ackVersion  = "MSH|^~\\&|DPI|CH_ESSAI|MSSANTE|CH_ESSAI|20260312153006||ACK^T02^ACK|A-2|P|2.6\rMSA|AE|MSG-0001\rERR||MSH^1^12|203^Unsupported version id^messageErrorCondition|E\r"
	ackUnknown  = "MSH|^~\\&|DPI|CH_ESSAI|MSSANTE|CH_ESSAI|20260312153006||ACK^T02^ACK|A-3|P|2.6\rMSA|AE|MSG-0001\rERR||PID^1^3|207^Application error^messageErrorCondition| E|902^Identifiant de patient inconnu^applicationErrorCode\r"
	ackRejected = "MSH|^~\\&|DPI|CH_ESSAI|MSSANTE|CH_ESSAI|20260312153006||ACK^T02^ACK|A-4|P|2.6\rMSA|AR|MSG-0001|base indisponible\r"
)

// TestParseAck reads MSA and ERR, and decides acceptance and retry per code (profils-messages.md
// MSA-1; error-codes.md 900–906).
func TestParseAck(t *testing.T) {
	tests := []struct {
		name, in       string
		code           AckCode
		accepted       bool
		retry          bool
		errCode, errTx string
		condition      string
	}{
		{"AA integrated", ackAA, AA, true, false, "", "", ""},
		{"AE unsupported version: not retried", ackVersion, AE, false, false, "203", "Unsupported version id", "203"},
		{"AE 902 unknown patient: retried", ackUnknown, AE, false, true, "902", "Identifiant de patient inconnu", "207"},
		{"AR circumstantial: retried", ackRejected, AR, false, true, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseAck([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if a.Code != tt.code || a.ControlID != "MSG-0001" || a.Accepted() != tt.accepted || a.Retry() != tt.retry {
				t.Errorf("ParseAck = %+v accepted %v retry %v, want %s %v %v", a, a.Accepted(), a.Retry(), tt.code, tt.accepted, tt.retry)
			}
			if tt.errCode == "" {
				if len(a.Errors) != 0 {
					t.Errorf("Errors = %+v", a.Errors)
				}
				return
			}
			if len(a.Errors) != 1 || a.Errors[0].Code != tt.errCode || a.Errors[0].Text != tt.errTx || a.Errors[0].Condition != tt.condition || a.Errors[0].Severity != "E" {
				t.Errorf("Errors = %+v, want %s %q", a.Errors, tt.errCode, tt.errTx)
			}
		})
	}
}

// TestAck_retryByApplicationCode: the application codes decide whatever MSA-1 says.
func TestAck_retryByApplicationCode(t *testing.T) {
	for code, retry := range map[string]bool{
		ErrCodeVersion: false, ErrCodeAuthor: false, ErrCodeUnknownPatient: true, ErrCodeNoINS: false,
		ErrCodeINSMismatch: false, ErrCodeINSIncomplete: false,
	} {
		for _, msa := range []AckCode{AE, AR} {
			a := Ack{Code: msa, Errors: []AckError{{Code: code, Condition: ConditionApplication}}}
			if a.Retry() != retry {
				t.Errorf("Ack{%s, %s}.Retry() = %v, want %v", msa, code, a.Retry(), retry)
			}
		}
	}
	// 906 "other" leaves the decision to MSA-1.
	if (Ack{Code: AE, Errors: []AckError{{Code: ErrCodeOther}}}).Retry() || !(Ack{Code: AR, Errors: []AckError{{Code: ErrCodeOther}}}).Retry() {
		t.Error("906: AE must not be retried and AR must")
	}
	if (Ack{Code: "ZZ"}).Retry() {
		t.Error("an unknown MSA-1 is retried")
	}
}

// TestAck_Err: a reject is a *RejectError with the reason the gateway records.
func TestAck_Err(t *testing.T) {
	a, err := ParseAck([]byte(ackUnknown))
	if err != nil {
		t.Fatal(err)
	}
	var re *RejectError
	if !errors.As(a.Err(), &re) || !re.Retry() || re.Reason() != "902 Identifiant de patient inconnu" {
		t.Errorf("Err() = %v", a.Err())
	}
	if r, _ := ParseAck([]byte(ackRejected)); !strings.Contains(r.Err().Error(), "base indisponible") {
		t.Errorf("Err() = %v, want MSA-3 as the reason", r.Err())
	}
	if ok, _ := ParseAck([]byte(ackAA)); ok.Err() != nil {
		t.Errorf("Err() of AA = %v", ok.Err())
	}
}

// TestParseAck_notAck: a message without MSA-1 is not an ACK.
func TestParseAck_notAck(t *testing.T) {
	for _, in := range []string{"MSH|^~\\&|A\r", "MSH|^~\\&|A\rMSA|\r", "PID|1\r"} {
		if _, err := ParseAck([]byte(in)); err == nil {
			t.Errorf("ParseAck(%q) = nil error", in)
		}
	}
}

// TestBuildAck_roundTrip: what BuildAck writes, ParseAck reads, for the message it answers.
func TestBuildAck_roundTrip(t *testing.T) {
	data, h := readFixture(t, "../cda/testdata/n3-cr-imagerie.xml")
	m, _ := build(t, data, h)
	out := BuildAck(m, AE, "ACK-7", testTime, AckError{Code: ErrCodeINSMismatch, Text: "L'INS ne correspond pas", Condition: ConditionApplication, Location: "PID^1^3"})
	a, err := ParseAck(out)
	if err != nil {
		t.Fatal(err)
	}
	if a.Code != AE || a.ControlID != "MSG-0001" || len(a.Errors) != 1 || a.Errors[0].Code != "904" ||
		a.Errors[0].Text != "L'INS ne correspond pas" || a.Errors[0].Location != "PID^1^3" || a.Retry() {
		t.Errorf("ParseAck(BuildAck) = %+v", a)
	}
	ack, _ := Parse(out)
	if msh := seg(t, ack, "MSH"); msh.Value(3, 1) != "DPI" || msh.Value(5, 1) != "MSSANTE" || msh.Value(9, 2) != "T02" || msh.Value(10, 1) != "ACK-7" {
		t.Errorf("ACK MSH = %v", msh.Fields)
	}
}
