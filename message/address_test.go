package message

import (
	"errors"
	"testing"
)

// ECO.2.2.7: meaningful sender labels.
func TestSenderLabel_ECO_2_2_7(t *testing.T) {
	for _, tc := range []struct {
		l    SenderLabel
		want string
	}{
		{SenderLabel{Title: "Dr", FirstName: "Marie", Name: "Martin"}, "Dr Marie MARTIN"},
		{SenderLabel{FirstName: "Marie", Name: "Martin", Entity: "Cardiologie"}, "Marie MARTIN Cardiologie"},
		{SenderLabel{Kind: Organisational, Entity: "Hôpital A – Service Cardiologie"}, "Hôpital A – Service Cardiologie"},
		{SenderLabel{Kind: Applicative, Entity: "Hôpital C – Biologie", FirstName: "ignored"}, "Hôpital C – Biologie"},
	} {
		if got, err := tc.l.Label(); err != nil || got != tc.want {
			t.Errorf("%+v.Label() = %q, %v, want %q", tc.l, got, err, tc.want)
		}
	}
	for _, l := range []SenderLabel{{Title: "Dr", Name: "Martin"}, {Kind: Applicative}} {
		if _, err := l.Label(); !errors.Is(err, ErrSenderLabel) {
			t.Errorf("%+v.Label() error = %v, want ErrSenderLabel", l, err)
		}
	}
}

// ECO.3.1.1: patient mailboxes are told apart by their domain.
func TestAddress_IsPatient(t *testing.T) {
	for _, tc := range []struct {
		addr, domain string
		want         bool
	}{
		{"279035121518989@patient.mssante.fr", "", true},
		{"279035121518989@PATIENT.MSSANTE.FR", "", true},
		{"marie.martin@medecin.mssante.fr", "", false},
		{"279035121518989@patient.test.mssante.fr", "patient.test.mssante.fr", true},
	} {
		if got := (Address{Addr: tc.addr}).IsPatient(tc.domain); got != tc.want {
			t.Errorf("IsPatient(%q, %q) = %v, want %v", tc.addr, tc.domain, got, tc.want)
		}
	}
}
