package patients

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mssante/mssante/ins"
)

// RefusalError says, in French, why no address may be used for a patient. It wraps
// ErrOpposition, ErrNotQualified or an ins error (ins.ErrKey, ins.ErrSyntax).
type RefusalError struct {
	// What is refused, in French: "adresse refusée" or "dérogation refusée".
	What string
	// Reasons are French sentences for the professional.
	Reasons []string
	// DerogationPossible is true when the derogation of ECO.2.2.6 may still be tried (identity not
	// qualified, no opposition).
	DerogationPossible bool
	Err                error
}

func (e *RefusalError) Error() string { return e.What + " : " + strings.Join(e.Reasons, " ; ") }
func (e *RefusalError) Unwrap() error { return e.Err }

// Address returns the Mon espace santé mailbox of the patient ("<matricule>@<domain>", domain
// defaulting to ins.DefaultPatientDomain) only when the status is StatusQualified, the identity has
// every trait of a qualified INS and the patient did not oppose MSSanté exchange (ECO.2.2.6,
// ECO.3.1.5). Otherwise it returns a *RefusalError. Minors are treated like adults: the address is
// their own.
func (p Patient) Address(domain string) (string, error) {
	if p.Opposition {
		return "", opposition()
	}
	var reasons []string
	if p.Status != StatusQualified {
		reasons = append(reasons, fmt.Sprintf("statut « %s » : seule une identité qualifiée permet d'utiliser l'INS", p.Status.Label()))
	}
	addr, err := p.Identity.PatientAddress(domain)
	if err != nil {
		reasons = append(reasons, "INS non qualifié ("+missingTraits(err)+")")
	}
	if len(reasons) > 0 {
		inner := ErrNotQualified
		if err != nil {
			inner = errors.Join(ErrNotQualified, err)
		}
		return "", &RefusalError{What: "adresse refusée", Reasons: reasons, DerogationPossible: true, Err: inner}
	}
	return addr, nil
}

func opposition() error {
	return &RefusalError{
		What:    "adresse refusée",
		Reasons: []string{"le patient s'est opposé aux échanges par MSSanté (aucun envoi possible, même par dérogation)"},
		Err:     ErrOpposition,
	}
}

// Derogation is the temporary derogation of ECO.2.2.6 for a known patient whose identity is not
// qualified: the NIR known to the software is checked (key) and decoded. The professional must
// confirm the decoded birth date and sex before the address is used. Opposition refuses; a
// patient without a matricule cannot use it.
func (p Patient) Derogation(domain string, now time.Time) (ins.DerogationResult, error) {
	if p.Opposition {
		return ins.DerogationResult{}, opposition()
	}
	if p.Identity.INS.Matricule.IsZero() {
		return ins.DerogationResult{}, &RefusalError{
			What:    "dérogation refusée",
			Reasons: []string{"aucun NIR n'est connu pour ce patient ; saisir le NIR (15 caractères avec la clé)"},
			Err:     ErrNotQualified,
		}
	}
	return DerogationTyped(p.Identity.INS.Matricule.String(), domain, now)
}

// DerogationTyped is the derogation of ECO.2.2.6 for a NIR typed by the professional: 15
// characters with the key, which must match. It returns the decoded birth year, month and sex to
// confirm, or a *RefusalError saying why (wrong key, malformed number…).
func DerogationTyped(nir, domain string, now time.Time) (ins.DerogationResult, error) {
	d, err := ins.Derogation(nir, domain, now)
	if err != nil {
		var reason string
		var ke *ins.KeyError
		switch {
		case errors.As(err, &ke):
			reason = fmt.Sprintf("la clé du NIR %s est %02d, la clé calculée est %02d (erreur de saisie ?)", ke.Matricule, ke.Got, ke.Want)
		case errors.Is(err, ins.ErrSyntax):
			reason = "le NIR doit compter 15 caractères (13 chiffres, 2A/2B pour la Corse, et la clé à 2 chiffres), premier chiffre 1, 2, 7 ou 8"
		default:
			reason = err.Error()
		}
		return ins.DerogationResult{}, &RefusalError{What: "dérogation refusée", Reasons: []string{reason}, Err: err}
	}
	return d, nil
}
