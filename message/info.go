package message

import (
	"strings"

	"github.com/mssante/mssante/cda"
)

// InfoFromCDA returns what the subject, the PDF names and the MSSanté headers use of a parsed CDA.
func InfoFromCDA(d *cda.Document) DocumentInfo {
	if d == nil {
		return DocumentInfo{}
	}
	p := d.Patient
	id := p.Identity
	info := DocumentInfo{
		Code:     strings.TrimSpace(d.Code.Code),
		TypeName: strings.TrimSpace(d.Code.DisplayName),
		Title:    strings.TrimSpace(d.Title),
		ActDate:  d.ActDate().Raw,
		Patient: PatientNames{
			INS:       id.INS.Matricule.String(),
			BirthName: firstNonEmpty(id.BirthName, p.Name.Family),
			UsedName:  id.UsedName,
			FirstName: firstNonEmpty(id.FirstName, firstGiven(p.Name.Given)),
			BirthDate: p.BirthTime.Raw,
			Qualified: id.Qualified() == nil,
		},
	}
	if info.Patient.BirthDate == "" && !id.BirthDate.IsZero() {
		info.Patient.BirthDate = id.BirthDate.Format("20060102")
	}
	return info
}

// Level returns "N1", "N3" or "unknown" for d.
func Level(d *cda.Document) string {
	if d == nil {
		return cda.LevelUnknown.String()
	}
	return d.Level.String()
}

func firstGiven(given []string) string {
	for _, g := range given {
		if g = strings.TrimSpace(g); g != "" {
			return strings.Fields(g)[0]
		}
	}
	return ""
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}
