package cda

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mssante/mssante/ins"
)

// readPatient fills Document.Patient from recordTarget/patientRole: every id, the INS and the INS
// traits (CI-SIS structuration minimale: family@BR, given@BR, given without qualifier, birthTime,
// administrativeGenderCode, birthplace/place/addr/county).
func (d *Document) readPatient(role *xPatientRole) {
	p := &d.Patient
	for _, id := range role.IDs {
		if id.Root != "" || id.Extension != "" {
			p.IDs = append(p.IDs, id.ii())
		}
	}
	d.readINS()
	hasINS := !p.Identity.INS.Matricule.IsZero()
	x := role.Patient
	if x == nil {
		if hasINS {
			d.warn(fmt.Errorf("%w: recordTarget/patientRole/patient (INS traits)", ErrMissing))
		}
		return
	}
	d.readNames(x.Names, hasINS)
	p.Gender = x.Gender.code()
	switch strings.ToUpper(p.Gender.Code) {
	case "M":
		p.Identity.Sex = ins.SexMale
	case "F":
		p.Identity.Sex = ins.SexFemale
	}
	p.BirthTime = d.ts("patient/birthTime", x.BirthTime.Value)
	if p.BirthTime.Precision() >= 8 && !p.BirthTime.IsZero() {
		t := p.BirthTime.Time
		p.Identity.BirthDate = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	} else if hasINS {
		d.warn(fmt.Errorf("%w: patient/birthTime as a full date (got %q)", ErrMissing, p.BirthTime.Raw))
	}
	p.Identity.BirthplaceCode = strings.TrimSpace(x.County)
	if hasINS {
		if p.Identity.Sex == ins.SexUnknown {
			d.warn(fmt.Errorf("%w: patient/administrativeGenderCode M or F (got %q)", ErrMissing, p.Gender.Code))
		}
		for _, s := range p.Identity.Inconsistencies() {
			d.warn(fmt.Errorf("patient INS: %s", s))
		}
	}
}

// readINS takes the INS from the first id under a qualifying INS OID, else under the legacy INS-C
// OID. Ids under other roots (IPP, 1.2.250.1.213.1.4.13…) stay in IDs only.
func (d *Document) readINS() {
	p := &d.Patient
	pick := func(qualifying bool) bool {
		for _, id := range p.IDs {
			oid := ins.OID(id.Root)
			if !oid.Known() || oid.Qualifying() != qualifying {
				continue
			}
			m, err := ins.Parse(id.Extension)
			if err != nil {
				d.warn(fmt.Errorf("patient INS (%s): %w", oid.Label(), err))
			}
			if m.IsZero() {
				continue
			}
			p.Identity.INS = ins.INS{Matricule: m, OID: oid}
			return true
		}
		return false
	}
	if pick(true) {
		return
	}
	if pick(false) {
		d.warn(fmt.Errorf("patient id %s: %w", p.Identity.INS.Matricule, ErrLegacyINS))
	}
}

// readNames reads the patient names: the INS traits from the qualified parts and Patient.Name
// for display. Without qualifiers it falls back to the unqualified parts and, when the document
// carries an INS, warns.
func (d *Document) readNames(names []xParts, hasINS bool) {
	p := &d.Patient
	var family, given = map[string]string{}, map[string]string{}
	var unqualifiedGiven []string
	var otherFamily string // the first family name under a qualifier other than BR, SP or CL
	for _, n := range names {
		for _, part := range n.Parts {
			v := strings.TrimSpace(foldSpace(part.Text))
			if v == "" {
				continue
			}
			q := strings.ToUpper(strings.TrimSpace(part.Qualifier))
			switch part.XMLName.Local {
			case "family":
				if otherFamily == "" && q != "BR" && q != "SP" && q != "CL" {
					otherFamily = v
				}
				if _, ok := family[q]; !ok {
					family[q] = v
				}
			case "given":
				if q == "" {
					unqualifiedGiven = append(unqualifiedGiven, v)
				} else if _, ok := given[q]; !ok {
					given[q] = v
				}
			case "prefix":
				if p.Name.Prefix == "" {
					p.Name.Prefix = v
				}
			case "suffix":
				if p.Name.Suffix == "" {
					p.Name.Suffix = v
				}
			}
		}
	}
	id := &p.Identity
	id.BirthName = family["BR"]
	if id.BirthName == "" {
		// A used name (SP, CL) is never a birth name: a document that only carries one has no birth
		// name, so its INS is not qualified (ECO.2.4.2) and the subject shows the used name.
		id.BirthName = firstOf(family[""], otherFamily)
		if hasINS {
			d.warn(fmt.Errorf("%w: patient family@qualifier=BR (birth name); read %q", ErrMissing, id.BirthName))
		}
	}
	if used := firstOf(family["CL"], family["SP"]); !strings.EqualFold(used, id.BirthName) {
		id.UsedName = used
	}
	id.GivenNames = strings.Join(unqualifiedGiven, " ")
	id.FirstName = given["BR"]
	if id.FirstName == "" {
		first, _, _ := strings.Cut(firstOf(id.GivenNames, given["CL"]), " ")
		id.FirstName = first
		if hasINS {
			d.warn(fmt.Errorf("%w: patient given@qualifier=BR (first given name); read %q", ErrMissing, id.FirstName))
		}
	}
	if id.GivenNames == "" {
		id.GivenNames = id.FirstName
		if hasINS {
			d.warn(fmt.Errorf("%w: patient given without qualifier (given names of birth)", ErrMissing))
		}
	}
	p.Name.Family = firstOf(family["CL"], family["SP"], id.BirthName)
	if g := firstOf(given["CL"], id.FirstName); g != "" {
		p.Name.Given = []string{g}
	}
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// INSKeyError returns the *ins.KeyError among the warnings, or nil.
func (d *Document) INSKeyError() *ins.KeyError {
	for _, w := range d.Warnings {
		var ke *ins.KeyError
		if errors.As(w, &ke) {
			return ke
		}
	}
	return nil
}
