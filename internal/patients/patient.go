package patients

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mssante/mssante/ins"
	"github.com/mssante/mssante/internal/fold"
)

// Status is the state of an identity in the vocabulary of the RNIV (Référentiel national
// d'identitovigilance). Only StatusQualified lets the INS be used and an address be built.
type Status string

// Values of Status.
const (
	// StatusProvisional: no identity document checked and no INS retrieved (identité provisoire).
	StatusProvisional Status = "provisoire"
	// StatusRetrieved: INS retrieved from the INSi teleservice, identity document not checked
	// (identité récupérée).
	StatusRetrieved Status = "recuperee"
	// StatusValidated: identity document checked, INS not retrieved (identité validée).
	StatusValidated Status = "validee"
	// StatusQualified: identity document checked and INS retrieved (identité qualifiée).
	StatusQualified Status = "qualifiee"
)

// Statuses lists the valid statuses, weakest first.
var Statuses = []Status{StatusProvisional, StatusRetrieved, StatusValidated, StatusQualified}

// ParseStatus reads a status, accepting the accented French spelling and any case.
func ParseStatus(s string) (Status, error) {
	f := fold.Words(s)
	f = strings.TrimPrefix(f, "identite ")
	for _, st := range Statuses {
		if f == string(st) {
			return st, nil
		}
	}
	return "", fmt.Errorf("%w: unknown identity status %q (want provisoire, recuperee, validee or qualifiee)", ErrInvalid, s)
}

// String returns the code of the status.
func (s Status) String() string { return string(s) }

// Label names the status in French, for a professional.
func (s Status) Label() string {
	switch s {
	case StatusProvisional:
		return "identité provisoire"
	case StatusRetrieved:
		return "identité récupérée"
	case StatusValidated:
		return "identité validée"
	case StatusQualified:
		return "identité qualifiée"
	}
	return string(s)
}

// Errors a caller can branch on.
var (
	// ErrInvalid: the patient record is incomplete or contradictory; fix the input.
	ErrInvalid = errors.New("patients: invalid patient")
	// ErrNotFound: no patient has this id or matricule.
	ErrNotFound = errors.New("patients: patient not found")
	// ErrDuplicate: a patient with this matricule and OID is already known.
	ErrDuplicate = errors.New("patients: patient already known")
	// ErrOpposition: the patient opposed MSSanté exchange; nothing may be sent to them.
	ErrOpposition = errors.New("patients: patient opposed to MSSanté exchange")
	// ErrNotQualified: the identity is not qualified; only the derogation path remains.
	ErrNotQualified = errors.New("patients: identity not qualified")
)

// Patient is one known patient.
type Patient struct {
	// ID is assigned by the store; zero before Add.
	ID       int64
	Identity ins.Identity
	Status   Status
	// Opposition records the patient's opposition to MSSanté exchange.
	Opposition bool
	// CreatedAt and UpdatedAt are set by the store (UTC).
	CreatedAt, UpdatedAt time.Time
}

// Validate checks the record before it is stored: a birth name and a first given name, a
// well-formed matricule with a valid key (a wrong key is a typing error and is refused), a known
// OID with any matricule, and the "qualifiee" status only for an identity that has every trait of
// a qualified INS (ins.Identity.Qualified). The reasons are in French.
func (p Patient) Validate() error {
	var bad []string
	id := p.Identity
	if strings.TrimSpace(id.BirthName) == "" {
		bad = append(bad, "nom de naissance manquant")
	}
	if strings.TrimSpace(id.FirstName) == "" {
		bad = append(bad, "premier prénom manquant")
	}
	if _, err := ParseStatus(string(p.Status)); err != nil {
		bad = append(bad, fmt.Sprintf("statut d'identité inconnu %q", p.Status))
	}
	switch m := id.INS.Matricule; {
	case m.IsZero() && id.INS.OID != "":
		bad = append(bad, "OID sans matricule INS")
	case m.IsZero():
	case !m.KeyValid():
		bad = append(bad, fmt.Sprintf("clé du matricule %s invalide", m))
	case !id.INS.OID.Known():
		bad = append(bad, fmt.Sprintf("OID %q inconnu (attendu INS-NIR %s, INS-NIA %s, test %s ou démonstration %s)",
			id.INS.OID, ins.OIDNIR, ins.OIDNIA, ins.OIDTest, ins.OIDDemo))
	}
	if id.Sex != ins.SexUnknown && id.Sex != ins.SexMale && id.Sex != ins.SexFemale {
		bad = append(bad, fmt.Sprintf("sexe %q inconnu (M ou F)", id.Sex))
	}
	if p.Status == StatusQualified && len(bad) == 0 {
		if err := id.Qualified(); err != nil {
			bad = append(bad, "statut « qualifiée » impossible : "+missingTraits(err))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(bad, " ; "))
	}
	return nil
}

// missingTraits returns the French list of missing traits of an ins.Identity.Qualified error.
func missingTraits(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	if _, after, ok := strings.Cut(line, "missing "); ok {
		return "manque " + after
	}
	return line
}

// ParseBirthDate reads a civil date YYYY-MM-DD at midnight UTC.
func ParseBirthDate(s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: birth date %q is not YYYY-MM-DD", ErrInvalid, s)
	}
	return t, nil
}

// ParseSex reads M or F (any case).
func ParseSex(s string) (ins.Sex, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "M":
		return ins.SexMale, nil
	case "F":
		return ins.SexFemale, nil
	}
	return ins.SexUnknown, fmt.Errorf("%w: sex %q is not M or F", ErrInvalid, s)
}
