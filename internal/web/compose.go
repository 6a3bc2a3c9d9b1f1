package web

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/mail"
	"strconv"
	"strings"

	"github.com/mssante/mssante/ins"
	"github.com/mssante/mssante/internal/annuaire"
	"github.com/mssante/mssante/internal/audit"
)

// MESLimit is the size limit of a mail to a Mon espace santé mailbox (25 MB, encoded).
const MESLimit = 25 << 20

// composeView is the compose form.
type composeView struct {
	From          string
	Froms         []string
	To, Cc        string
	Subject       string
	Text          string
	DSN, MDN      bool
	Fin           bool
	Patient       *patientView // "écrire au patient"
	Patients      []patientView
	Derogate      bool // the derogation dialog is shown (patient without a qualified identity)
	Confirmed     bool
	Decoded       string // birth date and sex decoded from the NIR, to confirm
	DerogAddr     string
	Parent        *ParentRef
	Forward       bool
	Forwarded     []string // attachments of the forwarded mail, carried along
	DraftID       string
	PatientDomain string
}

// handleCompose shows the form: new mail, reply, reply-all, forward, to a patient, a draft.
func (a *App) handleCompose(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	q := r.URL.Query()
	cv := &composeView{Froms: c.addresses(), DSN: true, PatientDomain: a.patientDomain()}
	if len(cv.Froms) > 0 {
		cv.From = cv.Froms[0]
	}
	if to := q.Get("to"); to != "" {
		cv.To = to
	}
	if id := q.Get("draft"); id != "" {
		if !a.loadDraft(r, c, id, cv) {
			a.notFound(w, r, c)
			return
		}
	}
	if ref := q.Get("reply") + q.Get("forward"); ref != "" {
		if !a.prefillParent(w, r, c, cv, q.Get("forward") != "", q.Get("all") == "1") {
			return
		}
	}
	if pid := q.Get("patient"); pid != "" {
		if !a.pickPatient(r, cv, pid, q.Get("derogation") == "1") {
			a.notFound(w, r, c)
			return
		}
	}
	if a.o.Patients != nil {
		if list, err := a.o.Patients.List(r.Context()); err == nil {
			for _, p := range list {
				if v := viewPatient(p); v.WriteURL != "" {
					cv.Patients = append(cv.Patients, v)
				}
			}
		}
	}
	a.render(w, r, c, http.StatusOK, "compose", &pageData{Title: "Nouveau message", Compose: cv})
}

func (a *App) patientDomain() string {
	if a.o.PatientDomain != "" {
		return a.o.PatientDomain
	}
	return ins.DefaultPatientDomain
}

// pickPatient puts a known patient in the form: a qualified INS gives the address (ECO.3.1.5);
// otherwise only the derogation dialog, with the birth date and sex decoded from the NIR.
func (a *App) pickPatient(r *http.Request, cv *composeView, pid string, derogation bool) bool {
	if a.o.Patients == nil {
		return false
	}
	id, err := strconv.ParseInt(pid, 10, 64)
	if err != nil {
		return false
	}
	p, err := a.o.Patients.Get(r.Context(), id)
	if err != nil {
		return false
	}
	v := viewPatient(p)
	cv.Patient = &v
	if !v.Qualified {
		if !derogation || v.Opposition {
			return false
		}
		d, err := p.Derogation(a.patientDomain(), a.now())
		if err != nil {
			return false
		}
		cv.Derogate, cv.DerogAddr = true, d.Address
		cv.Decoded = decodedLabel(d)
	}
	return true
}

func decodedLabel(d ins.DerogationResult) string {
	s := "sexe " + sexLabel(d.Decoded.Sex) + ", né(e) en "
	if d.Decoded.MonthKnown {
		s += monthsFR[d.Decoded.Month-1] + " "
	}
	return s + strconv.Itoa(d.BirthYear)
}

var monthsFR = []string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}

// prefillParent fills a reply or a forward from the parent in the local index.
func (a *App) prefillParent(w http.ResponseWriter, r *http.Request, c *reqCtx, cv *composeView, forward, all bool) bool {
	q := r.URL.Query()
	account, ok := c.allowed(q.Get("account"))
	uid, err := strconv.ParseUint(q.Get("uid"), 10, 32)
	if !ok || err != nil {
		a.notFound(w, r, c)
		return false
	}
	m, err := a.o.Mail.Get(r.Context(), account, q.Get("folder"), uint32(uid))
	if err != nil {
		a.notFound(w, r, c)
		return false
	}
	cv.From = account
	cv.Parent = &ParentRef{Account: account, Folder: m.Folder, UID: m.UID}
	cv.Forward = forward
	subj := m.DisplaySubject
	if forward {
		cv.Subject = "Tr : " + subj
		r2 := *r
		r2.SetPathValue("account", account)
		r2.SetPathValue("uid", fmt.Sprint(m.UID))
		if l, ok := a.load(w, &r2, c); ok && l.parsed != nil {
			for _, att := range l.parsed.Attachments {
				if l.hasPackage() && bytes.Equal(att.Data, l.parsed.XDM) {
					continue // listed once below, with what it is
				}
				cv.Forwarded = append(cv.Forwarded, firstNonEmpty(att.Name, att.ContentType))
			}
			if l.hasPackage() {
				cv.Forwarded = append(cv.Forwarded, "IHE_XDM.zip (documents CDA)")
			}
			cv.Text = "\n\n---- Message transféré ----\nDe : " + m.From + "\nObjet : " + subj + "\n\n" + l.parsed.Text
		} else if !ok {
			return false
		}
		return true
	}
	cv.Subject = "Re : " + strings.TrimPrefix(subj, "Re : ")
	cv.To = m.From
	if all {
		r2 := *r
		r2.SetPathValue("account", account)
		r2.SetPathValue("uid", fmt.Sprint(m.UID))
		if l, ok := a.load(w, &r2, c); ok && l.parsed != nil {
			var cc []string
			for _, x := range append(append([]string{}, addrs(l.parsed.To)...), addrs(l.parsed.Cc)...) {
				if !strings.EqualFold(x, account) && !strings.EqualFold(x, m.From) {
					cc = append(cc, x)
				}
			}
			cv.Cc = strings.Join(cc, ", ")
		} else if !ok {
			return false
		}
	}
	return true
}

// handleComposePost sends the mail (or saves the draft).
func (a *App) handleComposePost(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	f := r.PostForm
	cv := &composeView{Froms: c.addresses(), From: f.Get("from"), To: f.Get("to"), Cc: f.Get("cc"), Subject: f.Get("subject"),
		Text: f.Get("text"), DSN: f.Get("dsn") == "1", MDN: f.Get("mdn") == "1", Fin: f.Get("fin") == "1",
		Confirmed: f.Get("derogation_confirmed") == "1", DraftID: f.Get("draft"), PatientDomain: a.patientDomain()}
	fail := func(status int, msg string) {
		a.render(w, r, c, status, "compose", &pageData{Title: "Nouveau message", Error: msg, Compose: cv})
	}
	from, ok := c.allowed(cv.From)
	if !ok {
		fail(http.StatusForbidden, "Vous ne pouvez pas écrire depuis cette boîte.")
		return
	}
	if pid := f.Get("patient"); pid != "" {
		if !a.pickPatient(r, cv, pid, f.Get("derogation") == "1") {
			fail(http.StatusBadRequest, "Ce patient ne peut pas recevoir de message MSSanté (identité non qualifiée ou opposition).")
			return
		}
	}
	if f.Get("action") == "draft" {
		id, err := a.saveDraft(r, c, cv)
		if err != nil {
			fail(http.StatusInternalServerError, "Impossible d'enregistrer le brouillon.")
			return
		}
		http.Redirect(w, r, "/app/compose?saved=1&draft="+id, http.StatusSeeOther)
		return
	}
	d := &Draft{From: from, GivenName: c.sess.Pro.GivenName, FamilyName: c.sess.Pro.FamilyName, Subject: cv.Subject, Text: cv.Text, DSN: cv.DSN, MDN: cv.MDN, MESFin: cv.Fin}
	var err error
	if d.To, err = splitAddrs(cv.To); err != nil {
		fail(http.StatusBadRequest, "Destinataire invalide : "+err.Error())
		return
	}
	if d.Cc, err = splitAddrs(cv.Cc); err != nil {
		fail(http.StatusBadRequest, "Copie invalide : "+err.Error())
		return
	}
	toPatient := cv.Patient != nil
	for _, x := range append(append([]string{}, d.To...), d.Cc...) {
		if strings.HasSuffix(strings.ToLower(x), "@"+strings.ToLower(a.patientDomain())) {
			toPatient = true
		}
	}
	if cv.Patient != nil {
		if cv.Derogate && !cv.Confirmed {
			fail(http.StatusBadRequest, "Confirmez la date de naissance et le sexe décodés du NIR avant d'écrire au patient.")
			return
		}
		d.ToPatients, d.Derogation = []int64{cv.Patient.ID}, cv.Derogate
	}
	if len(d.To)+len(d.Cc)+len(d.ToPatients) == 0 {
		fail(http.StatusBadRequest, "Indiquez au moins un destinataire.")
		return
	}
	if d.MESFin && !toPatient {
		fail(http.StatusBadRequest, "« Bloquer la réponse du patient » ne s'applique qu'à un message adressé à un patient.")
		return
	}
	var size int64
	if r.MultipartForm != nil {
		if d.CDAs, size, err = readFiles(r.MultipartForm.File["cda"], nil); err == nil {
			var n int64
			_, n, err = readFiles(r.MultipartForm.File["files"], &d.Files)
			size += n
		}
		if err != nil {
			fail(http.StatusBadRequest, "Pièce jointe illisible.")
			return
		}
	}
	// The encoded size: base64 grows by 4/3; a CDA also travels as its PDF/A (counted twice).
	encoded := (size + cdaSize(d.CDAs)) * 4 / 3
	if toPatient && encoded > MESLimit {
		fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("Le message ferait environ %s : Mon espace santé refuse les messages de plus de 25 Mo.", humanSize(encoded)))
		return
	}
	if p := f.Get("parent_uid"); p != "" {
		acc, ok := c.allowed(f.Get("parent_account"))
		uid, err := strconv.ParseUint(p, 10, 32)
		if !ok || err != nil {
			fail(http.StatusForbidden, "Message d'origine introuvable.")
			return
		}
		pm, err := a.o.Mail.Get(r.Context(), acc, f.Get("parent_folder"), uint32(uid))
		if err != nil {
			fail(http.StatusNotFound, "Message d'origine introuvable.")
			return
		}
		d.Parent = &ParentRef{Account: acc, Folder: pm.Folder, UID: pm.UID}
		if d.Parent.Raw, err = a.o.Mail.Body(r.Context(), pm); err != nil {
			fail(http.StatusConflict, "Le message d'origine n'est pas disponible localement : ses pièces jointes ne peuvent pas être reprises.")
			return
		}
		d.Forward = f.Get("forward") == "1"
	}
	if a.o.Operator == nil {
		fail(http.StatusServiceUnavailable, "Aucun opérateur n'est configuré : envoi impossible.")
		return
	}
	sent, err := a.o.Operator.Send(r.Context(), from, c.author(), TokenFunc(c.sess.Token), d)
	a.audit(r.Context(), c, from, audit.ActionSend, "web: send to "+strings.Join(append(append([]string{}, d.To...), d.Cc...), ", "), err)
	if err != nil {
		fail(http.StatusBadGateway, "Envoi refusé : "+err.Error())
		return
	}
	if cv.DraftID != "" {
		_, _ = a.db.ExecContext(r.Context(), `DELETE FROM web_drafts WHERE national_id = ? AND id = ?`, c.author(), cv.DraftID)
	}
	a.kick(c)
	if sent.OutboxID != 0 {
		http.Redirect(w, r, "/app/sent/"+strconv.FormatInt(sent.OutboxID, 10), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/app/inbox?sent=1&mb="+from, http.StatusSeeOther)
}

func cdaSize(cdas [][]byte) int64 {
	var n int64
	for _, c := range cdas {
		n += int64(len(c))
	}
	return n
}

func readFiles(fhs []*multipart.FileHeader, out *[]File) ([][]byte, int64, error) {
	var list [][]byte
	var total int64
	for _, fh := range fhs {
		if fh.Size == 0 && fh.Filename == "" {
			continue
		}
		f, err := fh.Open()
		if err != nil {
			return nil, 0, err
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, 0, err
		}
		total += int64(len(b))
		list = append(list, b)
		if out != nil {
			*out = append(*out, File{Name: fh.Filename, ContentType: fh.Header.Get("Content-Type"), Data: b})
		}
	}
	return list, total, nil
}

// splitAddrs reads a comma-separated list of addresses ("Nom <a@b>" or a@b).
func splitAddrs(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	list, err := mail.ParseAddressList(strings.ReplaceAll(s, ";", ","))
	if err != nil {
		return nil, errors.New("« " + s + " »")
	}
	out := make([]string, len(list))
	for i, x := range list {
		out[i] = x.Address
	}
	return out, nil
}

func addrs[T interface{ String() string }](list []T) []string {
	out := make([]string, 0, len(list))
	for _, x := range list {
		if p, err := mail.ParseAddress(x.String()); err == nil {
			out = append(out, p.Address)
		}
	}
	return out
}

// draftFields is what a draft keeps (attachments are not kept: they are chosen again).
type draftFields struct {
	From, To, Cc, Subject, Text string
	DSN, MDN                    bool
	Patient                     int64 `json:",omitempty"`
}

func (a *App) saveDraft(r *http.Request, c *reqCtx, cv *composeView) (string, error) {
	id := cv.DraftID
	if id == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	df := draftFields{From: cv.From, To: cv.To, Cc: cv.Cc, Subject: cv.Subject, Text: cv.Text, DSN: cv.DSN, MDN: cv.MDN}
	if cv.Patient != nil {
		df.Patient = cv.Patient.ID
	}
	b, _ := json.Marshal(df)
	_, err := a.db.ExecContext(r.Context(), `INSERT INTO web_drafts (national_id, id, saved_at, fields) VALUES (?, ?, ?, ?)
		ON CONFLICT (national_id, id) DO UPDATE SET saved_at = excluded.saved_at, fields = excluded.fields`,
		c.author(), id, a.now().UTC().Format("2006-01-02T15:04:05Z"), string(b))
	return id, err
}

func (a *App) loadDraft(r *http.Request, c *reqCtx, id string, cv *composeView) bool {
	var s string
	if err := a.db.QueryRowContext(r.Context(), `SELECT fields FROM web_drafts WHERE national_id = ? AND id = ?`, c.author(), id).Scan(&s); err != nil {
		return false
	}
	var df draftFields
	if json.Unmarshal([]byte(s), &df) != nil {
		return false
	}
	cv.From, cv.To, cv.Cc, cv.Subject, cv.Text, cv.DSN, cv.MDN, cv.DraftID = df.From, df.To, df.Cc, df.Subject, df.Text, df.DSN, df.MDN, id
	if df.Patient != 0 {
		a.pickPatient(r, cv, strconv.FormatInt(df.Patient, 10), false)
	}
	return true
}

// entryView is a directory entry for the autocomplete and the no-script search page.
type entryView struct {
	Address string `json:"address"`
	Label   string `json:"label"`
	Detail  string `json:"detail"`
	Source  string `json:"source"`
}

// handleDirectory searches the directory (ECO.3.1.4): JSON for the script's autocomplete, an
// HTML page with "écrire" links otherwise.
func (a *App) handleDirectory(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	var out []entryView
	if a.o.Directory != nil && len([]rune(q)) >= 2 {
		entries, err := a.o.Directory.Search(r.Context(), annuaire.Query{Text: q, Limit: 15})
		if err != nil {
			a.log.Warn("web: directory", "err", err)
		}
		for _, e := range entries {
			label := strings.TrimSpace(strings.Join([]string{e.Civility, e.FirstName, e.LastName}, " "))
			if label == "" {
				label = firstNonEmpty(e.TradeName, e.Organization, e.Address)
			}
			detail := strings.Join(nonEmpty(e.Profession, e.Specialty, firstNonEmpty(e.TradeName, e.Organization), e.City), " · ")
			out = append(out, entryView{Address: e.Address, Label: label, Detail: detail, Source: e.Source})
		}
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if out == nil {
			out = []entryView{}
		}
		_ = json.NewEncoder(w).Encode(out)
		return
	}
	a.render(w, r, c, http.StatusOK, "directory", &pageData{Title: "Annuaire santé", Query: q, Entries: out})
}

func nonEmpty(v ...string) []string {
	var out []string
	for _, s := range v {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}
