package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/mssante/mssante/ins"
	"github.com/mssante/mssante/internal/mailbox"
)

// insCheck is the JSON of "mssante ins check".
type insCheck struct {
	Matricule   string  `json:"matricule"`
	Valid       bool    `json:"valid"`
	Kind        string  `json:"kind,omitempty"` // NIR or NIA
	Provisional bool    `json:"provisional"`
	OID         string  `json:"oid,omitempty"`
	Authority   string  `json:"authority,omitempty"`
	Sex         string  `json:"sex,omitempty"`
	BirthYear   *int    `json:"birth_year"`
	BirthMonth  *int    `json:"birth_month"` // null when the number does not say (months 20-42, 50-99)
	Department  string  `json:"birth_department,omitempty"`
	Commune     string  `json:"birth_commune,omitempty"`
	Country     string  `json:"birth_country,omitempty"`
	Address     *string `json:"address"`
	Error       string  `json:"error,omitempty"`
}

func init() {
	register(&command{
		name:    "ins check",
		summary: "check an INS matricule (key, sex, birth year and month) and give the patient address",
		usage:   "ins check MATRICULE [--oid OID] [--patient-domain DOMAIN]",
		example: "mssante ins check 279035121518989 --oid 1.2.250.1.213.1.4.10",
		flags: func(fs *flag.FlagSet) runFunc {
			oid := fs.String("oid", "", "`OID` of the assigning authority (1.2.250.1.213.1.4.8 NIR, .9 NIA, .10 test, .11 demo)")
			conf := useConfig(fs, "patient_domain")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 1 {
					return usagef("one MATRICULE expected")
				}
				cfg, err := conf()
				if err != nil {
					return err
				}
				out, err := checkINS(args[0], ins.OID(*oid), cfg.PatientDomain, time.Now())
				if werr := writeJSON(env.stdout, out); werr != nil {
					return werr
				}
				return err
			}
		},
	})
	register(&command{
		name:    "ins address",
		summary: "build a patient mailbox address from a qualified INS identity (or the derogation path)",
		usage:   "ins address --ins MATRICULE --oid OID --birth-name NAME --first-name NAME --birth-date YYYY-MM-DD --sex M|F [--derogation]",
		example: "mssante ins address --ins 279035121518989 --oid 1.2.250.1.213.1.4.10 --birth-name PAT-TROIS --first-name DOMINIQUE --birth-date 1979-03-28 --sex F",
		flags: func(fs *flag.FlagSet) runFunc {
			matricule := fs.String("ins", "", "INS `matricule` (15 characters)")
			oid := fs.String("oid", "", "`OID` of the assigning authority")
			birthName := fs.String("birth-name", "", "birth `name` (nom de naissance)")
			firstName := fs.String("first-name", "", "first given `name` of the birth certificate")
			birthDate := fs.String("birth-date", "", "birth `date`, YYYY-MM-DD")
			sex := fs.String("sex", "", "`M` or F")
			derogation := fs.Bool("derogation", false, "NIR known to the software or typed by the professional: check the key and return what to confirm")
			conf := useConfig(fs, "patient_domain")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if *matricule == "" {
					return usagef("--ins is required")
				}
				cfg, err := conf()
				if err != nil {
					return err
				}
				domain := cfg.PatientDomain
				if *derogation {
					return derogationAddress(env, *matricule, domain)
				}
				m, err := ins.Parse(*matricule)
				if m.IsZero() {
					return err
				}
				id := ins.Identity{INS: ins.INS{Matricule: m, OID: ins.OID(*oid)}, BirthName: *birthName, FirstName: *firstName, Sex: ins.Sex(*sex)}
				if *birthDate != "" {
					if id.BirthDate, err = time.Parse("2006-01-02", *birthDate); err != nil {
						return usagef("--birth-date: %v", err)
					}
				}
				addr, err := id.PatientAddress(domain)
				if err != nil {
					return fmt.Errorf("%w (hors INS qualifiée, seule la dérogation est possible : --derogation, avec confirmation de la date de naissance et du sexe)", err)
				}
				return writeJSON(env.stdout, map[string]any{"address": addr, "qualified": true, "warnings": id.Inconsistencies()})
			}
		},
	})
}

func checkINS(s string, oid ins.OID, domain string, now time.Time) (insCheck, error) {
	out := insCheck{Matricule: s, OID: string(oid)}
	if oid != "" {
		out.Authority = oid.Label()
	}
	m, err := ins.Parse(s)
	if m.IsZero() {
		out.Error = err.Error()
		return out, err
	}
	out.Matricule = m.String()
	d := m.Decode()
	out.Sex, out.Provisional = string(d.Sex), d.Provisional
	out.Kind = "NIR"
	if oid == ins.OIDNIA || (oid == "" && d.Provisional) {
		out.Kind = "NIA"
	}
	year := d.BirthYear(now)
	out.BirthYear = &year
	if d.MonthKnown {
		month := int(d.Month)
		out.BirthMonth = &month
	}
	out.Department, out.Commune, out.Country = d.Department, d.Commune, d.Country
	switch {
	case err != nil:
		out.Error = err.Error()
		return out, err
	case oid != "" && !oid.Qualifying():
		err = fmt.Errorf("%s is not an OID under which an INS can be qualified", oid.Label())
		out.Error = err.Error()
		out.Valid = true
		return out, err
	}
	out.Valid = true
	addr := m.String() + "@" + domain
	out.Address = &addr
	return out, nil
}

func derogationAddress(env *cmdEnv, matricule, domain string) error {
	pr, err := mailbox.TypedDerogation(matricule, domain, time.Now()) // the one patient rule
	if err != nil {
		return err
	}
	r := *pr.Derogation
	out := map[string]any{
		"address": r.Address, "qualified": false, "derogation": true, "confirm_required": true,
		"sex": string(r.Decoded.Sex), "birth_year": r.BirthYear,
	}
	if r.Decoded.MonthKnown {
		out["birth_month"] = int(r.Decoded.Month)
	} else {
		out["birth_month"] = nil
	}
	fmt.Fprintf(env.stderr, "Dérogation : confirmez avec le patient le sexe (%s) et la naissance (%s) déduits du NIR avant d'écrire.\n", r.Decoded.Sex, birthLabel(r))
	return writeJSON(env.stdout, out)
}

func birthLabel(r ins.DerogationResult) string {
	if !r.Decoded.MonthKnown {
		return fmt.Sprintf("%d, mois inconnu", r.BirthYear)
	}
	return fmt.Sprintf("%02d/%d", int(r.Decoded.Month), r.BirthYear)
}
