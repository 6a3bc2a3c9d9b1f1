package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/mssante/mssante/ins"
	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/patients"
)

// patientView is a known patient as the screens show it.
type patientView struct {
	ID         int64
	BirthName  string
	FirstName  string
	UsedName   string
	BirthDate  string
	Sex        string
	INS        string
	Status     string
	Qualified  bool
	Opposition bool
	WriteURL   string // "écrire au patient": qualified INS only
	FolderURL  string // the patient view
	// Derogation (ECO.2.2.6): the address and the traits decoded from the NIR to confirm.
	DerogationURL string
}

// docView is a document of the patient view.
type docView struct {
	Type, Title, Date string
	MailURL           string
	Subject           string
	Account           string
	From              string
	Kind              mailstore.SenderKind
}

func sexLabel(s ins.Sex) string {
	switch s {
	case ins.SexFemale:
		return "féminin"
	case ins.SexMale:
		return "masculin"
	}
	return "inconnu"
}

func viewPatient(p patients.Patient) patientView {
	id := p.Identity
	v := patientView{ID: p.ID, BirthName: id.BirthName, FirstName: id.FirstName, UsedName: id.UsedName,
		Sex: sexLabel(id.Sex), Status: p.Status.Label(), Opposition: p.Opposition,
		Qualified: p.Status == patients.StatusQualified && id.Qualified() == nil}
	if !id.BirthDate.IsZero() {
		v.BirthDate = id.BirthDate.Format("02/01/2006")
	}
	if !id.INS.Matricule.IsZero() {
		v.INS = id.INS.Matricule.String()
		v.FolderURL = "/app/patient/" + url.PathEscape(v.INS)
	}
	switch {
	case p.Opposition:
	case v.Qualified:
		v.WriteURL = "/app/compose?patient=" + itoa(int(p.ID))
	case v.INS != "":
		v.DerogationURL = "/app/compose?derogation=1&patient=" + itoa(int(p.ID))
	}
	return v
}

// handlePatients lists the known patients, with "écrire au patient" for a qualified INS only
// (ECO.3.1.5).
func (a *App) handlePatients(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	d := &pageData{Title: "Patients"}
	if a.o.Patients == nil {
		d.Notice = "Aucun fichier de patients n'est configuré."
		a.render(w, r, c, http.StatusOK, "patients", d)
		return
	}
	var list []patients.Patient
	var err error
	if q := strings.TrimSpace(r.URL.Query().Get("q")); q != "" {
		d.Query = q
		list, err = a.o.Patients.Search(r.Context(), q, 100)
	} else {
		list, err = a.o.Patients.List(r.Context())
	}
	if err != nil {
		a.fail(w, r, c, http.StatusInternalServerError, "Impossible de lire les patients.")
		return
	}
	for _, p := range list {
		d.Patients = append(d.Patients, viewPatient(p))
	}
	a.render(w, r, c, http.StatusOK, "patients", d)
}

// handlePatient gathers every message and document of one patient (by INS matricule) across the
// professional's mailboxes.
func (a *App) handlePatient(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	matricule := strings.ToUpper(strings.TrimSpace(r.PathValue("ins")))
	if _, err := ins.Parse(matricule); err != nil {
		a.notFound(w, r, c)
		return
	}
	d := &pageData{Title: "Dossier du patient " + matricule}
	pv := &patientView{INS: matricule}
	if a.o.Patients != nil {
		if list, err := a.o.Patients.ByMatricule(r.Context(), matricule); err == nil && len(list) > 0 {
			v := viewPatient(list[0])
			pv = &v
		}
	}
	known, _ := a.indexed(r.Context(), c.addresses())
	if len(known) > 0 {
		docs, err := a.o.Mail.DocumentsOf(r.Context(), matricule, known...)
		if err != nil {
			a.fail(w, r, c, http.StatusInternalServerError, "Impossible de lire les documents du patient.")
			return
		}
		for _, pd := range docs {
			d.Docs = append(d.Docs, docView{Type: firstNonEmpty(pd.TypeLabel, pd.TypeCode), Title: pd.Title,
				Date: pd.Message.Date.In(paris).Format("02/01/2006"), MailURL: mailURL(pd.Message.Account, pd.Message.Folder, pd.Message.UID),
				Subject: pd.Message.DisplaySubject, Account: pd.Message.Account, From: firstNonEmpty(pd.Message.FromName, pd.Message.From),
				Kind: pd.Message.SenderKind})
		}
		msgs, err := a.patientMessages(r.Context(), matricule, known)
		if err != nil {
			a.log.Warn("web: patient messages", "err", err)
		}
		if pv.BirthName == "" {
			for _, m := range msgs {
				if m.Patient != nil {
					pv.BirthName, pv.FirstName = m.Patient.BirthName, m.Patient.GivenNames
					break
				}
			}
		}
		d.List = &listView{Rows: rows(msgs, false), Multi: len(known) > 1, Empty: "Aucun message de ce patient."}
	}
	d.Patient = pv
	a.audit(r.Context(), c, strings.Join(known, ","), audit.ActionList, "web: patient view", nil)
	a.render(w, r, c, http.StatusOK, "patient", d)
}

// patientMessages are the messages the patient wrote (Mon espace santé sender with this INS) or
// that carry a document about them.
func (a *App) patientMessages(ctx context.Context, matricule string, accounts []string) ([]mailstore.Message, error) {
	found, err := a.o.Mail.Search(ctx, matricule, 200, accounts...)
	if err != nil && !errors.Is(err, mailstore.ErrNotFound) {
		return nil, err
	}
	var out []mailstore.Message
	seen := map[int64]bool{}
	keep := func(m mailstore.Message) {
		if !seen[m.ID] {
			seen[m.ID] = true
			out = append(out, m)
		}
	}
	for _, m := range found {
		if m.Patient != nil && strings.EqualFold(m.Patient.INS, matricule) {
			keep(m)
			continue
		}
		for _, d := range m.Documents {
			if strings.EqualFold(d.INS, matricule) {
				keep(m)
				break
			}
		}
	}
	docs, err := a.o.Mail.DocumentsOf(ctx, matricule, accounts...)
	if err == nil {
		for _, d := range docs {
			keep(d.Message)
		}
	}
	return out, nil
}
