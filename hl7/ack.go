package hl7

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// AckCode is MSA-1 (HL7 table 0008).
type AckCode string

// Acknowledgment codes. The volet uses the original mode (AA, AE, AR); the enhanced-mode commit
// codes are read with the same meaning.
const (
	// AA: the message was understood and integrated; the sender has no further obligation.
	AA AckCode = "AA"
	// AE: the message has errors (syntax, or an application error in ERR-5); sending it again
	// unchanged fails again.
	AE AckCode = "AE"
	// AR: rejected for a circumstantial reason; it may be sent again later.
	AR AckCode = "AR"
	CA AckCode = "CA" // commit accept (enhanced mode)
	CE AckCode = "CE" // commit error
	CR AckCode = "CR" // commit reject
)

// String returns the code.
func (c AckCode) String() string { return string(c) }

// Application error codes of ERR-5 (error-codes.md, table applicationErrorCode), given with
// ERR-3 = 207.
const (
	ErrCodeVersion        = "900" // wrong document version on replace or delete
	ErrCodeAuthor         = "901" // author not allowed to replace or delete
	ErrCodeUnknownPatient = "902" // patient unknown to the record system
	ErrCodeNoINS          = "903" // the CDA carries no INS
	ErrCodeINSMismatch    = "904" // INS traits or matricule do not match the record exactly
	ErrCodeINSIncomplete  = "905" // INS present, traits incomplete
	ErrCodeOther          = "906" // other
	// ConditionApplication is ERR-3 "207 Application error": the reason is in ERR-5.
	ConditionApplication = "207"
)

// Ack is an acknowledgment read by ParseAck.
type Ack struct {
	Code      AckCode // MSA-1
	ControlID string  // MSA-2: the MSH-10 of the acknowledged message
	Text      string  // MSA-3, when the record system sends one
	Errors    []AckError
}

// AckError is one ERR segment.
type AckError struct {
	// Code and Text are the most specific reason: ERR-5 (application error, 900–906) when
	// present, else ERR-3 (HL7 table 0357: 100 segment sequence, 101 required field, 203
	// unsupported version…).
	Code string
	Text string
	// Condition is ERR-3.1 (HL7 table 0357); "207" when Code is an application error.
	Condition string
	Severity  string // ERR-4: E (error), W (warning), I (information)
	Location  string // ERR-2, as "PID^1^3"
}

// ErrNotAck: the message is not an acknowledgment (no MSA segment, or no MSA-1).
var ErrNotAck = errors.New("hl7: not an acknowledgment (no MSA-1)")

// ParseAck reads an ACK: MSA and the ERR segments.
func ParseAck(data []byte) (Ack, error) {
	m, err := Parse(data)
	if err != nil {
		return Ack{}, fmt.Errorf("reading the ACK: %w", err)
	}
	return AckOf(m)
}

// AckOf reads the acknowledgment of a parsed message.
func AckOf(m *Message) (Ack, error) {
	msa, ok := m.Segment("MSA")
	code := strings.ToUpper(strings.TrimSpace(msa.Value(1, 1)))
	if !ok || code == "" {
		return Ack{}, ErrNotAck
	}
	a := Ack{Code: AckCode(code), ControlID: strings.TrimSpace(msa.Value(2, 1)), Text: msa.Value(3, 1)}
	for _, e := range m.All("ERR") {
		a.Errors = append(a.Errors, ackError(e))
	}
	return a, nil
}

func ackError(s Segment) AckError {
	e := AckError{
		Condition: strings.TrimSpace(s.Value(3, 1)),
		Severity:  strings.TrimSpace(s.Value(4, 1)),
	}
	e.Code, e.Text = e.Condition, s.Value(3, 2)
	if app := strings.TrimSpace(s.Value(5, 1)); app != "" {
		e.Code, e.Text = app, s.Value(5, 2)
	}
	if loc := s.Field(2).Rep(0); len(loc) > 0 {
		var parts []string
		for _, c := range loc {
			parts = append(parts, c.Sub(1))
		}
		e.Location = strings.TrimRight(strings.Join(parts, "^"), "^")
	}
	if e.Code == "" { // ERR-1 of v2.4 and earlier: "segment^seq^field^code&text"
		e.Code, e.Text = s.Get(1, 0, 4, 1), s.Get(1, 0, 4, 2)
	}
	return e
}

// Accepted reports whether the record system integrated the message (AA, or CA).
func (a Ack) Accepted() bool { return a.Code == AA || a.Code == CA }

// Retry reports whether the message should be sent again later. Never for an accepted message.
// The application codes decide first: 902 (unknown patient) may succeed once the patient is
// admitted, so it is retried whatever MSA-1 says (the volet's own example answers it with AE);
// 900, 901, 903, 904 and 905 need a human or another document (wrong version, author, no or
// incomplete INS, INS not matching) and are never retried. Otherwise MSA-1 decides: AR/CR is a
// circumstantial reject ("peut être réémis plus tard"), AE/CE an error in the message that
// sending it again cannot fix. An unknown MSA-1 is not retried.
func (a Ack) Retry() bool {
	if a.Accepted() {
		return false
	}
	retry := false
	for _, e := range a.Errors {
		switch e.Code {
		case ErrCodeVersion, ErrCodeAuthor, ErrCodeNoINS, ErrCodeINSMismatch, ErrCodeINSIncomplete:
			return false
		case ErrCodeUnknownPatient:
			retry = true
		}
	}
	return retry || a.Code == AR || a.Code == CR
}

// Err returns nil for an accepted message, else a *RejectError carrying the ACK.
func (a Ack) Err() error {
	if a.Accepted() {
		return nil
	}
	return &RejectError{Ack: a}
}

// RejectError reports a message the record system did not integrate. The gateway marks the
// document rejected with Reason, and sends it again later only when Retry.
type RejectError struct {
	Ack Ack
}

func (e *RejectError) Error() string {
	return fmt.Sprintf("hl7: message %s rejected (%s): %s", e.Ack.ControlID, e.Ack.Code, e.Reason())
}

// Retry is Ack.Retry.
func (e *RejectError) Retry() bool { return e.Ack.Retry() }

// Reason is "code label" of each error, joined by "; ", or MSA-3, or the MSA-1 code.
func (e *RejectError) Reason() string {
	var parts []string
	for _, x := range e.Ack.Errors {
		if x.Severity == "W" || x.Severity == "I" {
			continue
		}
		parts = append(parts, strings.TrimSpace(x.Code+" "+x.Text))
	}
	if len(parts) == 0 && e.Ack.Text != "" {
		parts = append(parts, e.Ack.Text)
	}
	if len(parts) == 0 {
		return string(e.Ack.Code)
	}
	return strings.Join(parts, "; ")
}

// BuildAck writes the acknowledgment a record system answers to orig (profils-messages.md, "Le
// message d'acquittement"): MSH with the applications swapped and MSH-9 "ACK^<event>^ACK", MSA
// with code and orig's MSH-10, one ERR per error (ERR-3 the condition, 207 with ERR-5 for an
// application code). It serves test peers and simulators of record systems.
func BuildAck(orig *Message, code AckCode, controlID string, t time.Time, errs ...AckError) []byte {
	h, _ := orig.Segment("MSH")
	raw := func(n int) enc { return esc(h.Value(n, 1)) }
	segs := []string{
		segment("MSH", encodingChars, raw(5), raw(6), raw(3), raw(4), esc(dtm(t)), "",
			comps("ACK", esc(h.Value(9, 2)), "ACK"), esc(controlID), raw(11), Version,
			"", "", "", "", "FRA", "UNICODE UTF-8"),
		segment("MSA", esc(string(code)), raw(10)),
	}
	for _, e := range errs {
		cond, app := e.Condition, enc("")
		if cond == "" {
			cond = e.Code
		}
		if cond == ConditionApplication && e.Code != cond {
			app = comps(esc(e.Code), esc(e.Text), "applicationErrorCode")
		}
		condText := e.Text
		if app != "" {
			condText = "Application error"
		}
		sev := e.Severity
		if sev == "" {
			sev = "E"
		}
		segs = append(segs, segment("ERR", "", location(e.Location),
			comps(esc(cond), esc(condText), "messageErrorCondition"), esc(sev), app))
	}
	return []byte(strings.Join(segs, "\r") + "\r")
}

// location writes an ERL "PID^1^3" as its components.
func location(l string) enc {
	var parts []enc
	for _, p := range strings.Split(l, "^") {
		parts = append(parts, esc(p))
	}
	return comps(parts...)
}
