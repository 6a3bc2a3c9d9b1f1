package message

import (
	"errors"
	"strings"
	"testing"
)

func TestStripHeader_bcc(t *testing.T) {
	in := "To: a@x.fr\r\nBcc: b@x.fr,\r\n c@x.fr\r\nSubject: s\r\n\r\nBcc: in body\r\n"
	got := string(StripHeader([]byte(in), "bcc"))
	want := "To: a@x.fr\r\nSubject: s\r\n\r\nBcc: in body\r\n"
	if got != want {
		t.Errorf("StripHeader = %q, want %q", got, want)
	}
	env, err := EnvelopeOf([]byte(in))
	if err != nil || strings.Join(env.Recipients, ",") != "a@x.fr,b@x.fr,c@x.fr" || string(env.Data) != want || env.DSN {
		t.Errorf("EnvelopeOf = %+v, %v", env, err)
	}
}

// ECO.2.3.1: a mail composed with Draft.DSN carries Return-Receipt-To, and its envelope asks
// for the DSN parameters (issue 11: send honours compose --dsn).
func TestEnvelopeOf_dsnFromCompose(t *testing.T) {
	for _, dsn := range []bool{false, true} {
		c, err := Compose(&Draft{From: Address{Name: "Dr Marie MARTIN", Addr: "a@test.mssante.fr"}, To: []Address{{Addr: "b@test.mssante.fr"}},
			Subject: "s", Text: "t", DSN: dsn}, nil)
		if err != nil {
			t.Fatal(err)
		}
		env, err := EnvelopeOf(c.Data)
		if err != nil || env.DSN != dsn || env.From != "a@test.mssante.fr" {
			t.Errorf("DSN %t: EnvelopeOf = %+v, %v", dsn, env, err)
		}
	}
}

// Issue 11: a binary file is refused, and the error quotes none of it.
func TestEnvelopeOf_refusesBinary(t *testing.T) {
	for name, in := range map[string]string{
		"zip":     "PK\x03\x04\x14\x00\x00\x00secret-bytes",
		"pdf":     "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj secret-bytes",
		"nul":     "To: a@x.fr\r\nSubject: \x00secret-bytes\r\n\r\n",
		"no-rcpt": "Subject: secret-bytes\r\n\r\nbody",
	} {
		_, err := EnvelopeOf([]byte(in))
		if err == nil || strings.Contains(err.Error(), "secret-bytes") {
			t.Errorf("%s: err = %v", name, err)
		}
		if name != "no-rcpt" && !errors.Is(err, ErrBinary) && !errors.Is(err, ErrNotMail) {
			t.Errorf("%s: err = %v, want ErrBinary or ErrNotMail", name, err)
		}
	}
}

// EnvelopeOf reads files given on the command line: it never panics, and what it keeps is the
// input without Bcc.
func FuzzEnvelopeOf(f *testing.F) {
	f.Add([]byte("To: a@x.fr\r\nBcc: b@x.fr\r\n\r\nbody"))
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte("To: \r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		env, err := EnvelopeOf(in)
		if err == nil && (len(env.Recipients) == 0 || len(env.Data) > len(in)) {
			t.Fatalf("EnvelopeOf = %+v", env)
		}
	})
}

func TestSenderKind_textRoundTrip(t *testing.T) {
	for _, k := range []SenderKind{Professional, Patient} {
		b, _ := k.MarshalText()
		var got SenderKind
		if err := got.UnmarshalText(b); err != nil || got != k {
			t.Errorf("round trip %v = %v, %v", k, got, err)
		}
	}
	var k SenderKind
	if k.UnmarshalText([]byte("robot")) == nil {
		t.Error("unknown kind accepted")
	}
}

// Sender is the rule Parse applies to From, for an envelope alone (ECO.3.1.1, ECO.3.1.2).
func TestSender(t *testing.T) {
	k, p := Sender(Address{Name: "Léo DUPOND", Addr: "279035121518989@patient.mssante.fr"}, "")
	if k != Patient || p == nil || p.BirthName != "DUPOND" || !p.KeyValid {
		t.Errorf("Sender(patient) = %v, %+v", k, p)
	}
	if k, p := Sender(Address{Addr: "ne-pas-repondre@patient.mssante.fr"}, ""); k != Professional || p != nil {
		t.Errorf("Sender(notice) = %v, %+v", k, p)
	}
	if k, _ := Sender(Address{Addr: "dr@test.mssante.fr"}, ""); k != Professional {
		t.Errorf("Sender(pro) = %v", k)
	}
}
