package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mssante/mssante/cda"
)

func init() {
	register(&command{
		name:    "cda inspect",
		summary: "read a CDA R2 document (CI-SIS): header, patient INS, sections, warnings",
		usage:   "cda inspect FILE.xml|-",
		example: "mssante cda inspect cr-imagerie.xml",
		flags: func(fs *flag.FlagSet) runFunc {
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 1 {
					return usagef("one CDA file (or - for standard input) is required")
				}
				var in io.Reader = env.stdin
				if args[0] != "-" {
					f, err := os.Open(args[0])
					if err != nil {
						return err
					}
					defer f.Close()
					in = f
				}
				doc, err := cda.Read(in)
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				return writeJSON(env.stdout, cdaInspection(doc))
			}
		},
	})
}

// cdaInspectJSON is the output of "cda inspect".
type cdaInspectJSON struct {
	Level                  string           `json:"level"`
	Code                   string           `json:"code"`
	DisplayName            string           `json:"display_name,omitempty"`
	CodeSystem             string           `json:"code_system,omitempty"`
	Title                  string           `json:"title"`
	ID                     string           `json:"id"`
	SetID                  string           `json:"set_id,omitempty"`
	Version                string           `json:"version,omitempty"`
	EffectiveTime          string           `json:"effective_time,omitempty"`
	Confidentiality        string           `json:"confidentiality,omitempty"`
	Language               string           `json:"language,omitempty"`
	Patient                cdaPatientJSON   `json:"patient"`
	Authors                []cdaAuthorJSON  `json:"authors"`
	Custodian              *cdaOrgJSON      `json:"custodian,omitempty"`
	LegalAuthenticator     *cdaPersonJSON   `json:"legal_authenticator,omitempty"`
	ServiceStart           string           `json:"service_start,omitempty"`
	ServiceEnd             string           `json:"service_end,omitempty"`
	ServiceCode            string           `json:"service_code,omitempty"`
	PracticeSetting        string           `json:"practice_setting,omitempty"`
	HealthcareFacilityType string           `json:"healthcare_facility_type,omitempty"`
	Sections               []cdaSectionJSON `json:"sections,omitempty"`
	Body                   *cdaBodyJSON     `json:"body,omitempty"`
	Warnings               []string         `json:"warnings"`
}

type cdaPatientJSON struct {
	INS            string   `json:"ins,omitempty"`
	OID            string   `json:"oid,omitempty"`
	OIDLabel       string   `json:"oid_label,omitempty"`
	Qualified      bool     `json:"qualified"`
	NotQualified   string   `json:"not_qualified,omitempty"` // why, in French parts
	BirthName      string   `json:"birth_name,omitempty"`
	UsedName       string   `json:"used_name,omitempty"`
	FirstName      string   `json:"first_name,omitempty"`
	GivenNames     string   `json:"given_names,omitempty"`
	BirthDate      string   `json:"birth_date,omitempty"`
	Sex            string   `json:"sex,omitempty"`
	BirthplaceCode string   `json:"birthplace_code,omitempty"`
	IDs            []string `json:"ids"`
}

type cdaPersonJSON struct {
	Name         string `json:"name,omitempty"`
	ID           string `json:"id,omitempty"`
	Specialty    string `json:"specialty,omitempty"`
	Organization string `json:"organization,omitempty"`
	Time         string `json:"time,omitempty"`
}

type cdaAuthorJSON struct {
	cdaPersonJSON
	Device string `json:"device,omitempty"`
}

type cdaOrgJSON struct {
	Name string `json:"name,omitempty"`
	ID   string `json:"id,omitempty"`
	Addr string `json:"addr,omitempty"`
}

type cdaSectionJSON struct {
	Title    string           `json:"title"`
	Code     string           `json:"code,omitempty"`
	Sections []cdaSectionJSON `json:"sections,omitempty"`
}

type cdaBodyJSON struct {
	MediaType      string `json:"media_type"`
	Representation string `json:"representation"`
	Size           int    `json:"size"`
}

func cdaInspection(d *cda.Document) cdaInspectJSON {
	out := cdaInspectJSON{
		Level:           d.Level.String(),
		Code:            d.Code.Code,
		DisplayName:     d.Code.DisplayName,
		CodeSystem:      d.Code.CodeSystem,
		Title:           d.Title,
		ID:              d.ID.String(),
		SetID:           d.SetID.String(),
		Version:         d.Version,
		EffectiveTime:   d.EffectiveTime.String(),
		Confidentiality: d.Confidentiality.Code,
		Language:        d.Language,
		Patient:         cdaPatient(d.Patient),
		Authors:         []cdaAuthorJSON{},
		Custodian:       cdaOrg(d.Custodian),
		Sections:        cdaSections(d.Sections),
		Warnings:        []string{},
	}
	for _, a := range d.Authors {
		j := cdaAuthorJSON{Device: a.Device}
		if a.Person != nil {
			j.cdaPersonJSON = *cdaPerson(a.Person, a.Time)
		}
		j.Time = a.Time.String()
		if j.Organization == "" && a.Organization != nil {
			j.Organization = a.Organization.Name
		}
		out.Authors = append(out.Authors, j)
	}
	if d.LegalAuthenticator != nil {
		out.LegalAuthenticator = cdaPerson(d.LegalAuthenticator, d.LegalAuthenticationTime)
	}
	out.ServiceStart = d.ActDate().String()
	if len(d.ServiceEvents) > 0 {
		e := d.ServiceEvents[0]
		out.ServiceEnd = e.High.String()
		out.ServiceCode = e.Code.Code
		out.PracticeSetting = e.PracticeSetting.Code
	}
	out.HealthcareFacilityType = d.HealthcareFacilityType.Code
	if d.Body != nil {
		out.Body = &cdaBodyJSON{MediaType: d.Body.MediaType, Representation: d.Body.Representation, Size: len(d.Body.Data)}
	}
	for _, w := range d.Warnings {
		out.Warnings = append(out.Warnings, w.Error())
	}
	return out
}

func cdaPatient(p cda.Patient) cdaPatientJSON {
	id := p.Identity
	j := cdaPatientJSON{
		INS:            id.INS.Matricule.String(),
		OID:            string(id.INS.OID),
		BirthName:      id.BirthName,
		UsedName:       id.UsedName,
		FirstName:      id.FirstName,
		GivenNames:     id.GivenNames,
		Sex:            string(id.Sex),
		BirthplaceCode: id.BirthplaceCode,
		IDs:            []string{},
	}
	if id.INS.OID != "" {
		j.OIDLabel = id.INS.OID.Label()
	}
	if !id.BirthDate.IsZero() {
		j.BirthDate = id.BirthDate.Format(time.DateOnly)
	}
	if err := id.Qualified(); err != nil {
		j.NotQualified = err.Error()
	} else {
		j.Qualified = true
	}
	for _, i := range p.IDs {
		j.IDs = append(j.IDs, i.String())
	}
	return j
}

func cdaPerson(p *cda.Person, t cda.TS) *cdaPersonJSON {
	j := &cdaPersonJSON{Name: p.Name.String(), ID: p.ID.String(), Specialty: p.Specialty.DisplayName, Time: t.String()}
	if j.Specialty == "" {
		j.Specialty = p.Specialty.Code
	}
	if p.Organization != nil {
		j.Organization = p.Organization.Name
	}
	return j
}

func cdaOrg(o *cda.Organization) *cdaOrgJSON {
	if o == nil {
		return nil
	}
	return &cdaOrgJSON{Name: o.Name, ID: o.ID.String(), Addr: o.Addr}
}

func cdaSections(ss []cda.Section) []cdaSectionJSON {
	var out []cdaSectionJSON
	for _, s := range ss {
		out = append(out, cdaSectionJSON{Title: s.Title, Code: s.Code.Code, Sections: cdaSections(s.Sections)})
	}
	return out
}
