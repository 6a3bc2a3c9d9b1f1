// Package annuaire finds the MSSanté addresses of professionals and organisations in the Annuaire
// Santé (ECO.3.1.4), through the three ways the referential names: a local index of the public
// extraction file, the FHIR API, and LDAP. Each way is a Source; Merge combines several.
package annuaire

import "context"

// Mailbox types of the Annuaire Santé (extraction "Type de BAL", FHIR mailbox-mss-metadata type).
const (
	TypePER = "PER" // personal mailbox of a professional
	TypeORG = "ORG" // organisational mailbox
	TypeAPP = "APP" // applicative mailbox
	TypeCAB = "CAB" // practice (cabinet) mailbox
)

// Entry is one MSSanté mailbox as a directory describes it.
type Entry struct {
	Address        string `json:"address"`
	Type           string `json:"type"` // TypePER, TypeORG, TypeAPP, TypeCAB
	NationalID     string `json:"national_id,omitempty"`
	Civility       string `json:"civility,omitempty"`
	LastName       string `json:"last_name,omitempty"`
	FirstName      string `json:"first_name,omitempty"`
	ProfessionCode string `json:"profession_code,omitempty"`
	Profession     string `json:"profession,omitempty"`
	Specialty      string `json:"specialty,omitempty"`
	Organization   string `json:"organization,omitempty"`
	// TradeName is the organisation's trade name (extraction "Enseigne commerciale") when the
	// file gives one: "CHU SAINT-ETIENNE" for the Centre hospitalier universitaire.
	TradeName  string `json:"trade_name,omitempty"`
	Service    string `json:"service,omitempty"`
	City       string `json:"city,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Department string `json:"department,omitempty"`
	// Source names where the entry came from: "local", "fhir", "ldap".
	Source string `json:"source,omitempty"`
}

// Query is a search as the compose screen or the CLI asks it.
type Query struct {
	// Text is free text: names, profession, speciality, organisation, service, city, postcode.
	// The last word matches as a prefix (search as the user types).
	Text       string
	Type       string // "", TypePER or TypeORG…
	Profession string // profession label or code; "" for any
	Department string // "" for any
	Limit      int    // 0 means 20
}

// Source is one way to search the directory.
type Source interface {
	Search(ctx context.Context, q Query) ([]Entry, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context, q Query) ([]Entry, error)

// Search calls f.
func (f SourceFunc) Search(ctx context.Context, q Query) ([]Entry, error) { return f(ctx, q) }

var _ Source = SourceFunc(nil)
