package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mssante/mssante/ins"
	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/patients"
)

// The "patients" group: the base of known patients (ECO.3.1.5) and their Mon espace santé address,
// built only from a qualified INS (ECO.2.2.6).

func init() {
	register(&command{
		name:    "patients add",
		summary: "record a known patient (INS traits, identity status, opposition)",
		usage: "patients add --ins MATRICULE --oid OID --birth-name N --first-name P [--given-names G] [--used-name U] " +
			"--birth-date YYYY-MM-DD --sex M|F [--birthplace CODE] [--status provisoire|recuperee|validee|qualifiee] [--opposition] [--db URL] [--data-dir DIR]",
		example: "mssante patients add --ins 279035121518989 --oid 1.2.250.1.213.1.4.10 --birth-name DUPONT " +
			"--first-name Héloïse --given-names 'Héloïse Marie' --birth-date 1979-03-12 --sex F --status qualifiee",
		flags: patientsAdd,
	})
	register(&command{
		name:    "patients list",
		summary: "list the known patients (JSON lines)",
		usage:   "patients list [--db URL] [--data-dir DIR]",
		example: "mssante patients list",
		flags: func(fs *flag.FlagSet) runFunc {
			dir := stateFlagsOf(fs)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) > 0 {
					return usagef("no argument expected")
				}
				return withPatients(ctx, env, dir, func(st *patients.Store) error {
					ps, err := st.List(ctx)
					if err != nil {
						return err
					}
					return writePatientLines(env, ps)
				})
			}
		},
	})
	register(&command{
		name:    "patients search",
		summary: "find known patients by name (accents and case ignored) or matricule prefix",
		usage:   "patients search QUERY [--limit N] [--db URL] [--data-dir DIR]",
		example: "mssante patients search heloise dup",
		flags: func(fs *flag.FlagSet) runFunc {
			dir := stateFlagsOf(fs)
			limit := fs.Int("limit", 50, "maximum number of `patients`")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) == 0 {
					return usagef("a query is required")
				}
				return withPatients(ctx, env, dir, func(st *patients.Store) error {
					ps, err := st.Search(ctx, strings.Join(args, " "), *limit)
					if err != nil {
						return err
					}
					return writePatientLines(env, ps)
				})
			}
		},
	})
	register(&command{
		name:    "patients address",
		summary: "give a patient's MSSanté address, only for a qualified identity (or the derogation data)",
		usage:   "patients address (--ins MATRICULE [--oid OID] | --id ID) [--derogation] [--patient-domain D] [--db URL] [--data-dir DIR]",
		example: "mssante patients address --ins 279035121518989",
		flags:   patientsAddress,
	})
}

// withPatients runs f on the known patients of the database the flags name. A base of the earlier
// releases (<data-dir>/patients.db, its own file) is imported into it the first time, then renamed
// patients.db.imported so that it is imported once.
func withPatients(ctx context.Context, env *cmdEnv, flags *stateFlags, f func(*patients.Store) error) error {
	st, err := patients.Open(ctx, flags.url())
	if err != nil {
		return err
	}
	legacy := filepath.Join(flags.dir(), patients.LegacyFileName)
	if _, err := os.Stat(legacy); err == nil {
		n, err := st.ImportLegacy(ctx, legacy)
		if err == nil {
			err = os.Rename(legacy, legacy+".imported")
		}
		if err != nil {
			return errors.Join(err, st.Close())
		}
		fmt.Fprintf(env.stderr, "%d patients connus importés de %s (fichier renommé %s.imported)\n", n, legacy, patients.LegacyFileName)
	}
	return errors.Join(f(st), st.Close())
}

func patientsAdd(fs *flag.FlagSet) runFunc {
	dir := stateFlagsOf(fs)
	matricule := fs.String("ins", "", "INS `matricule`, 15 characters with the key (required)")
	oid := fs.String("oid", string(ins.OIDNIR), "`OID` of the assigning authority")
	birthName := fs.String("birth-name", "", "birth `name` (required)")
	firstName := fs.String("first-name", "", "first given `name` of the birth certificate (required)")
	givenNames := fs.String("given-names", "", "all given `names`, space-separated (default: the first name)")
	usedName := fs.String("used-name", "", "used `name` when it differs from the birth name")
	birthDate := fs.String("birth-date", "", "birth `date` YYYY-MM-DD (required)")
	sex := fs.String("sex", "", "sex `M|F` (required)")
	birthplace := fs.String("birthplace", "", "INSEE `code` of the place of birth")
	status := fs.String("status", string(patients.StatusProvisional), "identity `status`: provisoire, recuperee, validee, qualifiee")
	opposition := fs.Bool("opposition", false, "the patient opposes MSSanté exchange")
	return func(ctx context.Context, env *cmdEnv, args []string) error {
		if len(args) > 0 {
			return usagef("unexpected argument %q", args[0])
		}
		if *matricule == "" || *birthName == "" || *firstName == "" || *birthDate == "" || *sex == "" {
			return usagef("--ins, --birth-name, --first-name, --birth-date and --sex are required")
		}
		m, err := ins.Parse(*matricule)
		if err != nil {
			var ke *ins.KeyError
			if errors.As(err, &ke) {
				return fmt.Errorf("matricule INS refusé : la clé de %s est %02d, la clé calculée est %02d (erreur de saisie ?)", ke.Matricule, ke.Got, ke.Want)
			}
			if errors.Is(err, ins.ErrSyntax) {
				return fmt.Errorf("matricule INS refusé : %q doit compter 15 caractères (13 chiffres, 2A/2B pour la Corse, et la clé à 2 chiffres)", *matricule)
			}
			return fmt.Errorf("matricule INS refusé : %w", err)
		}
		bd, err := patients.ParseBirthDate(*birthDate)
		if err != nil {
			return usagef("%v", err)
		}
		sx, err := patients.ParseSex(*sex)
		if err != nil {
			return usagef("%v", err)
		}
		st, err := patients.ParseStatus(*status)
		if err != nil {
			return usagef("%v", err)
		}
		given := *givenNames
		if given == "" {
			given = *firstName
		}
		p := patients.Patient{
			Identity: ins.Identity{
				INS:       ins.INS{Matricule: m, OID: ins.OID(*oid)},
				BirthName: *birthName, FirstName: *firstName, GivenNames: given, UsedName: *usedName,
				BirthDate: bd, Sex: sx, BirthplaceCode: *birthplace,
			},
			Status:     st,
			Opposition: *opposition,
		}
		return withPatients(ctx, env, dir, func(s *patients.Store) error {
			p, err := s.Add(ctx, p)
			if errors.Is(err, patients.ErrDuplicate) {
				return fmt.Errorf("patient déjà enregistré : un patient connu a déjà le matricule %s (OID %s) ; « mssante patients search %s » le retrouve", m, *oid, m)
			}
			if errors.Is(err, patients.ErrInvalid) {
				return fmt.Errorf("patient refusé : %w", err)
			}
			if err != nil {
				return err
			}
			return writeJSON(env.stdout, patientView(p))
		})
	}
}

// patientJSON is the JSON form of a known patient.
type patientJSON struct {
	ID             int64    `json:"id"`
	INS            string   `json:"ins,omitempty"`
	OID            string   `json:"oid,omitempty"`
	BirthName      string   `json:"birth_name"`
	UsedName       string   `json:"used_name,omitempty"`
	FirstName      string   `json:"first_name"`
	GivenNames     string   `json:"given_names,omitempty"`
	BirthDate      string   `json:"birth_date,omitempty"`
	Sex            string   `json:"sex,omitempty"`
	BirthplaceCode string   `json:"birthplace_code,omitempty"`
	Status         string   `json:"status"`
	StatusLabel    string   `json:"status_label"`
	Qualified      bool     `json:"qualified"`
	Opposition     bool     `json:"opposition"`
	Warnings       []string `json:"warnings,omitempty"`
}

func patientView(p patients.Patient) patientJSON {
	id := p.Identity
	v := patientJSON{
		ID: p.ID, INS: id.INS.Matricule.String(), OID: string(id.INS.OID), BirthName: id.BirthName,
		UsedName: id.UsedName, FirstName: id.FirstName, GivenNames: id.GivenNames, Sex: string(id.Sex),
		BirthplaceCode: id.BirthplaceCode, Status: string(p.Status), StatusLabel: p.Status.Label(),
		Qualified:  p.Status == patients.StatusQualified && id.Qualified() == nil,
		Opposition: p.Opposition, Warnings: id.Inconsistencies(),
	}
	if !id.BirthDate.IsZero() {
		v.BirthDate = id.BirthDate.Format(time.DateOnly)
	}
	return v
}

func writePatientLines(env *cmdEnv, ps []patients.Patient) error {
	for _, p := range ps {
		if err := writeJSONLine(env.stdout, patientView(p)); err != nil {
			return err
		}
	}
	return nil
}

// derogationHint explains the derogation path of ECO.2.2.6 to the professional.
const derogationHint = "dérogation temporaire (ECO.2.2.6) : si le NIR du patient est connu du logiciel ou saisi, " +
	"relancer avec --derogation (et --ins NIR) : la clé est vérifiée, puis la date de naissance et le sexe décodés " +
	"du numéro sont à confirmer avant tout envoi"

// addressJSON is the answer of "patients address": a qualified address, or the derogation data.
type addressJSON struct {
	Address   string `json:"address"`
	Qualified bool   `json:"qualified"`
	// KnownPatient is false when the NIR was typed and matches no known patient.
	KnownPatient bool         `json:"known_patient"`
	Patient      *patientJSON `json:"patient,omitempty"`
	// Derogation data (ECO.2.2.6), only when Qualified is false.
	Derogation        bool     `json:"derogation,omitempty"`
	NotQualifiedWhy   []string `json:"not_qualified_reasons,omitempty"`
	Matricule         string   `json:"matricule,omitempty"`
	KeyValid          bool     `json:"key_valid,omitempty"`
	Sex               string   `json:"sex,omitempty"`
	BirthYear         int      `json:"birth_year,omitempty"`
	BirthMonth        int      `json:"birth_month,omitempty"`
	BirthDepartment   string   `json:"birth_department,omitempty"`
	ProvisionalNumber bool     `json:"provisional_number,omitempty"`
	ConfirmRequired   bool     `json:"confirm_required,omitempty"`
	ConfirmMessage    string   `json:"confirm_message,omitempty"`
}

func patientsAddress(fs *flag.FlagSet) runFunc {
	dir := stateFlagsOf(fs, "patient_domain")
	matricule := fs.String("ins", "", "INS `matricule` of the patient (or the NIR typed, with --derogation)")
	oid := fs.String("oid", "", "`OID` when several known patients share the matricule")
	idFlag := fs.String("id", "", "`id` of a known patient")
	derogation := fs.Bool("derogation", false, "use the temporary derogation of ECO.2.2.6 for an identity that is not qualified")
	return func(ctx context.Context, env *cmdEnv, args []string) error {
		if len(args) > 0 {
			return usagef("unexpected argument %q", args[0])
		}
		if (*matricule == "") == (*idFlag == "") {
			return usagef("exactly one of --ins and --id is required")
		}
		domain := &dir.cfg.PatientDomain
		return withPatients(ctx, env, dir, func(st *patients.Store) error {
			p, found, err := findPatient(ctx, st, *idFlag, *matricule, *oid)
			if err != nil {
				return err
			}
			if !found {
				if !*derogation {
					return fmt.Errorf("adresse refusée : aucun patient connu n'a le matricule %s ; l'enregistrer avec « mssante patients add » "+
						"(identité qualifiée) ; sinon %s", *matricule, derogationHint)
				}
				r, err := mailbox.TypedDerogation(*matricule, *domain, time.Now())
				if err != nil {
					return err
				}
				out := derogationView(*r.Derogation)
				out.NotQualifiedWhy = r.NotQualified
				return writeJSON(env.stdout, out)
			}
			view := patientView(p)
			r, err := mailbox.PatientAddress(p, *domain, *derogation, time.Now()) // the one patient rule
			var re *patients.RefusalError
			if err != nil && !*derogation && errors.As(err, &re) && re.DerogationPossible {
				return fmt.Errorf("%v ; %s", err, derogationHint)
			}
			if err != nil {
				return err
			}
			if r.Derogation == nil {
				return writeJSON(env.stdout, addressJSON{Address: r.Address, Qualified: true, KnownPatient: true, Patient: &view})
			}
			out := derogationView(*r.Derogation)
			out.KnownPatient, out.Patient, out.NotQualifiedWhy = true, &view, r.NotQualified
			return writeJSON(env.stdout, out)
		})
	}
}

// findPatient resolves --id or --ins (and --oid). found is false when --ins matches no patient.
func findPatient(ctx context.Context, st *patients.Store, id, matricule, oid string) (patients.Patient, bool, error) {
	if id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return patients.Patient{}, false, usagef("--id %q is not a number", id)
		}
		p, err := st.Get(ctx, n)
		return p, err == nil, err
	}
	ps, err := st.ByMatricule(ctx, matricule)
	if errors.Is(err, patients.ErrNotFound) {
		return patients.Patient{}, false, nil
	}
	if err != nil {
		return patients.Patient{}, false, err
	}
	var match []patients.Patient
	for _, p := range ps {
		if oid == "" || string(p.Identity.INS.OID) == oid {
			match = append(match, p)
		}
	}
	switch {
	case len(match) == 0:
		return patients.Patient{}, false, nil
	case len(match) > 1:
		return patients.Patient{}, false, usagef("%d known patients have the matricule %s: choose with --oid or --id", len(match), matricule)
	}
	return match[0], true, nil
}

func derogationView(d ins.DerogationResult) addressJSON {
	out := addressJSON{
		Address: d.Address, Derogation: true, Matricule: d.Matricule.String(),
		KeyValid: d.Matricule.KeyValid(), Sex: string(d.Decoded.Sex), BirthYear: d.BirthYear,
		BirthDepartment: d.Decoded.Department, ProvisionalNumber: d.Decoded.Provisional, ConfirmRequired: true,
	}
	born := fmt.Sprintf("en %d", d.BirthYear)
	if d.Decoded.MonthKnown {
		out.BirthMonth = int(d.Decoded.Month)
		born = fmt.Sprintf("en %s %d", frenchMonths[d.Decoded.Month-1], d.BirthYear)
	}
	sex := "un homme né"
	if d.Decoded.Sex == ins.SexFemale {
		sex = "une femme née"
	}
	out.ConfirmMessage = fmt.Sprintf("Identité non qualifiée : confirmez que le NIR %s est celui d'%s %s avant d'écrire à %s.",
		d.Matricule, sex, born, d.Address)
	return out
}

var frenchMonths = [12]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
	"septembre", "octobre", "novembre", "décembre"}
