package message

import (
	"fmt"
	"net/mail"
	"strings"

	"github.com/mssante/mssante/ins"
)

// Address is a mailbox with its display label.
type Address struct {
	Name string `json:"name,omitempty"`
	Addr string `json:"address"`
}

// ParseAddress reads "Label <local@domain>" or "local@domain" (RFC 5322 mailbox).
func ParseAddress(s string) (Address, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil {
		return Address{}, fmt.Errorf("%w: %q: %v", ErrAddress, s, err)
	}
	return Address{Name: a.Name, Addr: a.Address}, nil
}

// String formats the address for a header, encoding a non-ASCII label (RFC 2047).
func (a Address) String() string {
	if a.Name == "" {
		return a.Addr
	}
	return (&mail.Address{Name: a.Name, Address: a.Addr}).String()
}

// Domain returns the part after "@", lower-cased.
func (a Address) Domain() string {
	_, d, _ := strings.Cut(a.Addr, "@")
	return strings.ToLower(d)
}

// IsPatient reports whether the address is a patient mailbox of Mon espace santé: its domain is
// patientDomain (ins.DefaultPatientDomain when empty) (ECO.3.1.1).
func (a Address) IsPatient(patientDomain string) bool {
	if patientDomain == "" {
		patientDomain = ins.DefaultPatientDomain
	}
	return strings.EqualFold(a.Domain(), patientDomain)
}

// MailboxKind is the kind of the sending MSSanté mailbox (BAL).
type MailboxKind int

const (
	// Personal is a professional's own mailbox (BAL personnelle).
	Personal MailboxKind = iota
	// Organisational is a service's or a structure's mailbox (BAL organisationnelle).
	Organisational
	// Applicative is a software's mailbox (BAL applicative, ECO.2.2.5).
	Applicative
)

// String returns "personal", "organisational" or "applicative".
func (k MailboxKind) String() string {
	switch k {
	case Organisational:
		return "organisational"
	case Applicative:
		return "applicative"
	}
	return "personal"
}

// SenderLabel is what makes up the display label of the From address (ECO.2.2.7).
type SenderLabel struct {
	Kind MailboxKind
	// Title is the civility or title ("Dr", "Pr"), optional.
	Title string
	// FirstName and Name are mandatory for a personal mailbox; Name is put in upper case.
	FirstName string
	Name      string
	// Entity is the structure or service ("Hôpital A – Service Cardiologie"); mandatory for
	// organisational and applicative mailboxes, optional for a personal one.
	Entity string
}

// Label returns "<Titre> <Prénom> <NOM> <Entité>" for a personal mailbox ("Dr Marie MARTIN") and
// "<Entité>" for an organisational or applicative one (ECO.2.2.7). The referential separates the
// fields with "_" in its pattern and with spaces in its examples; the examples are followed.
func (l SenderLabel) Label() (string, error) {
	clean := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	if l.Kind != Personal {
		if e := clean(l.Entity); e != "" {
			return e, nil
		}
		return "", fmt.Errorf("%w: the %s mailbox needs its entity", ErrSenderLabel, l.Kind)
	}
	first, name := clean(l.FirstName), strings.ToUpper(clean(l.Name))
	if first == "" || name == "" {
		return "", fmt.Errorf("%w: a personal mailbox needs the first name and the name", ErrSenderLabel)
	}
	parts := []string{first, name}
	if t := clean(l.Title); t != "" {
		parts = append([]string{t}, parts...)
	}
	if e := clean(l.Entity); e != "" {
		parts = append(parts, e)
	}
	return strings.Join(parts, " "), nil
}
