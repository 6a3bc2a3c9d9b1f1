package mailbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mssante/mssante/ins"
	"github.com/mssante/mssante/internal/patients"
	"github.com/mssante/mssante/message"
)

// PatientRecipient is a patient address the rule accepted.
type PatientRecipient struct {
	Address string
	// Derogation is set when the address was accepted under the derogation of ECO.2.2.6: the
	// decoded birth date and sex the professional must have confirmed.
	Derogation *ins.DerogationResult
	// NotQualified are the French reasons the identity is not qualified, when Derogation is set.
	NotQualified []string
}

// PatientAddress is the one rule deciding whether a known patient may be written to, and at which
// address (ECO.2.2.6, ECO.3.1.5):
//
//   - an opposed patient is refused, derogation or not (*patients.RefusalError wrapping
//     patients.ErrOpposition, reason in French);
//   - a qualified identity (status "qualifiée", every INS trait) gives <matricule>@<domain>;
//   - otherwise, only with derogation: the known NIR is checked (key) and decoded for the
//     professional to confirm; without derogation a *patients.RefusalError says why and that the
//     derogation remains possible.
//
// The pieces it combines stay where their data is: patients.Patient.Address and .Derogation (the
// patient's status and opposition), ins (matricule, key, traits). Send and SendRaw call it, or
// checkPatientAddress for an address typed directly; `mssante patients address` calls it;
// message.Compose applies the same rule to the identities it is given (Draft.Patients, the
// documents' patient) and to Draft.Derogation.
func PatientAddress(p patients.Patient, domain string, derogation bool, now time.Time) (PatientRecipient, error) {
	addr, err := p.Address(domain)
	if err == nil {
		return PatientRecipient{Address: addr}, nil
	}
	var re *patients.RefusalError
	if !derogation || !errors.As(err, &re) || !re.DerogationPossible {
		return PatientRecipient{}, err
	}
	d, err := p.Derogation(domain, now)
	if err != nil {
		return PatientRecipient{}, err
	}
	return PatientRecipient{Address: d.Address, Derogation: &d, NotQualified: re.Reasons}, nil
}

// TypedDerogation is the same rule for a patient the software does not know, whose NIR the
// professional typed: only the derogation of ECO.2.2.6 remains (key checked, birth date and sex
// decoded for confirmation); a *patients.RefusalError says in French why it is refused.
func TypedDerogation(nir, domain string, now time.Time) (PatientRecipient, error) {
	d, err := patients.DerogationTyped(nir, domain, now)
	if err != nil {
		return PatientRecipient{}, err
	}
	return PatientRecipient{Address: d.Address, Derogation: &d,
		NotQualified: []string{"patient inconnu du logiciel : NIR saisi"}}, nil
}

// RecipientError is a recipient refused before anything was sent.
type RecipientError struct {
	Address string
	Err     error // a *patients.RefusalError (French reasons), an ins error…
}

func (e *RecipientError) Error() string { return "destinataire " + e.Address + " : " + e.Err.Error() }
func (e *RecipientError) Unwrap() error { return e.Err }

// checkPatientAddress applies PatientAddress to a patient address typed directly (To, Cc, Bcc,
// or an .eml file): the known patients of its matricule decide (an opposed one refuses). It
// returns the qualified identity known for the address, if any, so that message.Compose accepts
// it; an unknown patient is left to message's rule (derogation or refusal).
func (a *Account) checkPatientAddress(ctx context.Context, addr string, derogation bool) (*ins.Identity, error) {
	m, isPatient, err := ins.PatientDomainMatricule(addr, a.o.PatientDomain)
	if !isPatient {
		return nil, nil
	}
	if err != nil {
		return nil, &RecipientError{Address: addr, Err: fmt.Errorf("%w: %w", message.ErrPatientAddress, err)}
	}
	if a.o.Patients == nil {
		return nil, nil
	}
	known, err := a.o.Patients.ByMatricule(ctx, m.String())
	if err != nil && !errors.Is(err, patients.ErrNotFound) { // not found: no known patient
		return nil, fmt.Errorf("known patients: %w", err)
	}
	var qualified *ins.Identity
	for _, p := range known {
		r, err := PatientAddress(p, a.o.PatientDomain, derogation, a.o.Now())
		if errors.Is(err, patients.ErrOpposition) {
			return nil, &RecipientError{Address: addr, Err: err}
		}
		if err == nil && r.Derogation == nil {
			qualified = &p.Identity
		}
	}
	return qualified, nil
}

// checkEnvelopePatients checks every patient recipient of an already composed mail against the
// known patients: an opposed patient is refused. The rest of the rule was applied when the mail
// was composed (message.Compose).
func (a *Account) checkEnvelopePatients(ctx context.Context, rcpts []string) error {
	for _, r := range rcpts {
		_, err := a.checkPatientAddress(ctx, r, true)
		if err != nil && (errors.Is(err, patients.ErrOpposition) || !errors.Is(err, message.ErrPatientAddress)) {
			return err
		}
	}
	return nil
}

// resolveDraft turns a Draft into the message.Draft to compose: From defaults to the account,
// ToPatients become addresses through PatientAddress, typed patient addresses are checked.
func (a *Account) resolveDraft(ctx context.Context, d *Draft) (*message.Draft, error) {
	md := d.Draft
	if md.From.Addr == "" {
		md.From.Addr = a.o.Address
	}
	md.To = append([]message.Address(nil), md.To...)
	for _, id := range d.ToPatients {
		if a.o.Patients == nil {
			return nil, errors.New("mailbox: no known patients to resolve ToPatients")
		}
		p, err := a.o.Patients.Get(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("patient %d: %w", id, err)
		}
		r, err := PatientAddress(p, a.o.PatientDomain, md.Derogation, a.o.Now())
		if err != nil {
			return nil, &RecipientError{Address: fmt.Sprintf("patient %d", id), Err: err}
		}
		md.To = append(md.To, message.Address{Addr: r.Address})
		if r.Derogation == nil {
			md.Patients = append(md.Patients, p.Identity)
		}
	}
	for _, r := range append(append([]message.Address(nil), md.To...), md.Cc...) {
		id, err := a.checkPatientAddress(ctx, r.Addr, md.Derogation)
		if err != nil {
			return nil, err
		}
		if id != nil {
			md.Patients = append(md.Patients, *id)
		}
	}
	return &md, nil
}
