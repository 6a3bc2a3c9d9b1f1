package ins

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// OID is the object identifier of the authority that assigned a matricule.
type OID string

// The assigning authorities of the INS (CI-SIS, patientRole/id/@root).
const (
	OIDNIR  OID = "1.2.250.1.213.1.4.8"  // INS-NIR, production
	OIDNIA  OID = "1.2.250.1.213.1.4.9"  // INS-NIA, production
	OIDTest OID = "1.2.250.1.213.1.4.10" // INS-NIR of test identities
	OIDDemo OID = "1.2.250.1.213.1.4.11" // INS-NIR of demonstration identities
	// OIDCalculated is the legacy calculated INS (INS-C). It is never a qualified INS.
	OIDCalculated OID = "1.2.250.1.213.1.4.2"
)

// Qualifying reports whether the OID is one under which an INS can be qualified.
func (o OID) Qualifying() bool {
	switch o {
	case OIDNIR, OIDNIA, OIDTest, OIDDemo:
		return true
	}
	return false
}

// Known reports whether o is one of the INS OIDs, qualifying or not.
func (o OID) Known() bool { return o.Qualifying() || o == OIDCalculated }

// Label names the authority in French, for a professional.
func (o OID) Label() string {
	switch o {
	case OIDNIR:
		return "INS-NIR"
	case OIDNIA:
		return "INS-NIA"
	case OIDTest:
		return "INS-NIR de test"
	case OIDDemo:
		return "INS-NIR de démonstration"
	case OIDCalculated:
		return "INS calculé (non qualifiable)"
	}
	return string(o)
}

// INS is a matricule and the OID of its assigning authority.
type INS struct {
	Matricule Matricule
	OID       OID
}

// CX returns the HL7 v2 CX form XDS metadata carry: "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH".
func (i INS) CX() string { return i.Matricule.String() + "^^^&" + string(i.OID) + "&ISO^NH" }

// ParseCX reads an identifier in CX form ("ID^^^&OID&ISO^TYPE"). The type (NH, PI…) is ignored.
// A wrong key is returned as with Parse: the INS and a *KeyError.
func ParseCX(s string) (INS, error) {
	id, rest, ok := strings.Cut(strings.TrimSpace(s), "^^^")
	if !ok {
		return INS{}, fmt.Errorf("%w: %q is not an HL7 CX identifier", ErrSyntax, s)
	}
	authority, _, _ := strings.Cut(rest, "^")
	parts := strings.Split(authority, "&")
	if len(parts) < 2 || parts[1] == "" {
		return INS{}, fmt.Errorf("%w: %q names no assigning authority", ErrSyntax, s)
	}
	m, err := Parse(id)
	if m.IsZero() {
		return INS{}, err
	}
	return INS{Matricule: m, OID: OID(parts[1])}, err
}

// DefaultPatientDomain is the mail domain of the patients' mailboxes in Mon espace santé.
const DefaultPatientDomain = "patient.mssante.fr"

// Identity is a patient identity with the five INS traits.
type Identity struct {
	INS INS
	// BirthName is the family name of the birth certificate (nom de naissance).
	BirthName string
	// FirstName is the first given name of the birth certificate (premier prénom).
	FirstName string
	// GivenNames are all given names of the birth certificate, space-separated as written.
	GivenNames string
	// UsedName is the name in use (nom utilisé), when it differs from the birth name.
	UsedName string
	// BirthDate is the civil date of birth, at midnight UTC; zero when unknown.
	BirthDate time.Time
	Sex       Sex
	// BirthplaceCode is the INSEE code (COG) of the place of birth, when known.
	BirthplaceCode string
}

// ErrNotQualified: the identity lacks what a qualified INS requires (ECO.2.2.6, ECO.2.4.2).
var ErrNotQualified = errors.New("ins: identity not qualified")

// Qualified returns nil when the identity is a qualified INS: a matricule with a valid key, one of
// the qualifying OIDs, the birth name, the first given name, the birth date and the sex. Otherwise
// it says every missing part, wrapping ErrNotQualified (and ErrKey for a wrong key).
func (id Identity) Qualified() error {
	var missing []string
	var keyErr error
	switch {
	case id.INS.Matricule.IsZero():
		missing = append(missing, "matricule INS")
	case !id.INS.Matricule.KeyValid():
		keyErr = &KeyError{Matricule: id.INS.Matricule.String(), Got: id.INS.Matricule.key, Want: id.INS.Matricule.want}
		missing = append(missing, "clé du matricule valide")
	}
	if !id.INS.OID.Qualifying() {
		if id.INS.OID == "" {
			missing = append(missing, "OID de l'autorité d'affectation")
		} else {
			missing = append(missing, fmt.Sprintf("OID qualifiant (reçu %s)", id.INS.OID.Label()))
		}
	}
	if strings.TrimSpace(id.BirthName) == "" {
		missing = append(missing, "nom de naissance")
	}
	if strings.TrimSpace(id.FirstName) == "" {
		missing = append(missing, "premier prénom")
	}
	if id.BirthDate.IsZero() {
		missing = append(missing, "date de naissance")
	}
	if id.Sex != SexMale && id.Sex != SexFemale {
		missing = append(missing, "sexe")
	}
	if len(missing) == 0 {
		return nil
	}
	err := fmt.Errorf("%w: missing %s", ErrNotQualified, strings.Join(missing, ", "))
	if keyErr != nil {
		return errors.Join(err, keyErr)
	}
	return err
}

// Inconsistencies lists the traits that disagree with what the matricule says (sex, year and month
// of birth). A qualified identity may still carry them (the RNIV keeps the civil record); they are
// warnings to show, not reasons to refuse.
func (id Identity) Inconsistencies() []string {
	m := id.INS.Matricule
	if m.IsZero() {
		return nil
	}
	d := m.Decode()
	var out []string
	if d.Sex != SexUnknown && id.Sex != SexUnknown && d.Sex != id.Sex {
		out = append(out, fmt.Sprintf("sexe %s alors que le matricule indique %s", id.Sex, d.Sex))
	}
	if !id.BirthDate.IsZero() {
		if id.BirthDate.Year()%100 != d.YearOfBirth {
			out = append(out, fmt.Sprintf("année de naissance %d alors que le matricule indique %02d", id.BirthDate.Year(), d.YearOfBirth))
		}
		if d.MonthKnown && id.BirthDate.Month() != d.Month {
			out = append(out, fmt.Sprintf("mois de naissance %02d alors que le matricule indique %02d", int(id.BirthDate.Month()), int(d.Month)))
		}
	}
	return out
}

// PatientAddress returns the Mon espace santé mailbox of a qualified identity:
// "<matricule>@<domain>", domain defaulting to DefaultPatientDomain (ECO.2.2.6, ECO.3.1.5).
func (id Identity) PatientAddress(domain string) (string, error) {
	if err := id.Qualified(); err != nil {
		return "", fmt.Errorf("patient address refused: %w", err)
	}
	return address(id.INS.Matricule, domain), nil
}

func address(m Matricule, domain string) string {
	if domain == "" {
		domain = DefaultPatientDomain
	}
	return m.String() + "@" + domain
}

// PatientDomainMatricule returns the matricule of a patient address ("<matricule>@domain") when the
// address is in domain (DefaultPatientDomain when empty), with the same lenient key rule as Parse.
func PatientDomainMatricule(addr, domain string) (Matricule, bool, error) {
	if domain == "" {
		domain = DefaultPatientDomain
	}
	local, dom, ok := strings.Cut(strings.TrimSpace(addr), "@")
	if !ok || !strings.EqualFold(dom, domain) {
		return Matricule{}, false, nil
	}
	m, err := Parse(local)
	return m, true, err
}

// DerogationResult is what the professional must confirm before writing to a patient whose
// identity is not qualified, under the temporary derogation of ECO.2.2.6.
type DerogationResult struct {
	Matricule Matricule
	Address   string
	Decoded   Decoded
	// BirthYear is the four-digit reading of the two year digits (see Decoded.BirthYear).
	BirthYear int
}

// Derogation checks a NIR known to the software or typed by the professional (15 characters with
// the key, or 13 without: the key is then computed and cannot be checked, so 13 characters are
// refused) and returns the address with the birth date and sex decoded from the number, for the
// professional to confirm. A wrong key is refused.
func Derogation(nir, domain string, now time.Time) (DerogationResult, error) {
	m, err := Parse(nir)
	if err != nil {
		return DerogationResult{}, fmt.Errorf("derogation refused: %w", err)
	}
	d := m.Decode()
	if d.Sex == SexUnknown {
		return DerogationResult{}, fmt.Errorf("derogation refused: %w: first digit %q is not a sex (1, 2, 7, 8)", ErrSyntax, m.number[:1])
	}
	return DerogationResult{Matricule: m, Address: address(m, domain), Decoded: d, BirthYear: d.BirthYear(now)}, nil
}
