package message

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mssante/mssante/ins"
)

// checkRecipients applies ECO.2.2.6 and ECO.2.2.8 to the patient recipients: an address built
// from a qualified INS (the documents' patient, or a known qualified identity), or the derogation
// path; X-MSS-MES: FIN only with a patient recipient.
func (c *Composed) checkRecipients(d *Draft, opts *Options) error {
	domain := opts.patientDomain()
	patients := 0
	for _, a := range append(append([]Address(nil), d.To...), d.Cc...) {
		if !a.IsPatient(domain) {
			continue
		}
		patients++
		if err := c.checkPatient(a, d, opts); err != nil {
			return err
		}
	}
	if d.MESFin && patients == 0 {
		return ErrMESFinWithoutPatient
	}
	return nil
}

func (c *Composed) checkPatient(a Address, d *Draft, opts *Options) error {
	local, _, _ := strings.Cut(a.Addr, "@")
	m, err := ins.Parse(local)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrPatientAddress, a.Addr, err)
	}
	if len(c.Documents) > 0 {
		return c.checkDocumentPatient(a, m, d, opts)
	}
	for _, id := range d.Patients {
		if id.INS.Matricule.String() == m.String() && id.Qualified() == nil {
			return nil
		}
	}
	if !d.Derogation {
		return fmt.Errorf("%w: %s: no qualified identity known for this matricule (derogation not asked)", ErrPatientNotQualified, a.Addr)
	}
	return c.derogate(a, opts)
}

// checkDocumentPatient: the recipient must be the documents' patient. With a qualified INS in the
// documents the matricules must be equal; without, only the derogation path remains, and a
// matricule in the documents (unqualified) must still be the recipient's.
func (c *Composed) checkDocumentPatient(a Address, m ins.Matricule, d *Draft, opts *Options) error {
	p := c.Documents[0].Patient
	if p.INS != "" && p.INS != m.String() {
		return fmt.Errorf("%w: %s is not the INS of the documents (%s)", ErrPatientMismatch, a.Addr, p.INS)
	}
	if p.Qualified {
		return nil
	}
	if !d.Derogation {
		return fmt.Errorf("%w: %s: the documents carry no qualified INS for %s", ErrPatientNotQualified, a.Addr, p)
	}
	return c.derogate(a, opts)
}

// derogate applies the derogation of ECO.2.2.6: a valid key, and the decoded birth date and sex
// returned for confirmation.
func (c *Composed) derogate(a Address, opts *Options) error {
	local, _, _ := strings.Cut(a.Addr, "@")
	r, err := ins.Derogation(local, opts.patientDomain(), opts.now())
	if err != nil {
		if errors.Is(err, ins.ErrKey) || errors.Is(err, ins.ErrSyntax) {
			return fmt.Errorf("%w: %s: %w", ErrPatientAddress, a.Addr, err)
		}
		return fmt.Errorf("%w: %s: %w", ErrPatientNotQualified, a.Addr, err)
	}
	c.Derogations = append(c.Derogations, r)
	month := "mois inconnu"
	if r.Decoded.MonthKnown {
		month = fmt.Sprintf("%02d", int(r.Decoded.Month))
	}
	sex := map[ins.Sex]string{ins.SexFemale: "féminin", ins.SexMale: "masculin"}[r.Decoded.Sex]
	c.Warnings = append(c.Warnings, fmt.Sprintf(
		"dérogation INS (ECO.2.2.6) pour %s : vérifier l'identité de l'usager, né(e) en %s/%d, sexe %s",
		a.Addr, month, r.BirthYear, sex))
	return nil
}
