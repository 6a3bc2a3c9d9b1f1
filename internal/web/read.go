package web

import (
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/microcosm-cc/bluemonday"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/outbox"
)

// mailView is one message as the reading screen shows it.
type mailView struct {
	Account, Folder string
	UID             uint32
	URL             string
	Msg             mailstore.Message
	From            string
	To, Cc          []string
	Text            string
	// SrcDoc is the sanitised HTML document of the iframe (a complete document with its own
	// CSP meta); empty for a text mail.
	SrcDoc        string
	RemoteBlocked bool // the HTML has remote content that was removed
	RemoteShown   bool
	RemoteURL     string
	Attachments   []partView
	Documents     []cdaView
	Warnings      []string
	// MDN (ECO.3.1.6)
	MDNAsked, MDNSent bool
	MDNPolicy         string
	MDNNotice         string
	Reports           []mailstore.ReceivedReport
	Timeline          *timelineView
	Classify          bool // "classer dans le dossier patient" is configured
	ReplyURL          string
	ReplyAllURL       string
	ForwardURL        string
	PatientURL        string
	NoBody            bool
}

type partView struct {
	N           int
	Name        string
	ContentType string
	Size        int64
	URL         string
	PDF         bool
}

// cdaView is a CDA document of the XDM archive: its header and narrative.
type cdaView struct {
	Title, Type, Level string
	Patient            string
	PatientINS         string
	PatientURL         string
	BirthDate, Sex     string
	Authors            []string
	Custodian          string
	Date               string
	Sections           []sectionView
	PDFURL             string
	PDFName            string
}

type sectionView struct {
	Title string
	HTML  template.HTML
	Subs  []sectionView
}

// loaded is a message of the index with its parsed body.
type loaded struct {
	msg    mailstore.Message
	raw    []byte
	parsed *mailbox.Parsed
}

// hasPackage: the message has an XDM archive that could be read (a broken archive: its
// documents are not shown).
func (l *loaded) hasPackage() bool { return l.parsed != nil && l.parsed.Package != nil }

// load finds the message of the URL, after the authorisation check: the account must be one of
// the professional's mailboxes. Anything else is a 404.
func (a *App) load(w http.ResponseWriter, r *http.Request, c *reqCtx) (*loaded, bool) {
	account, ok := c.allowed(r.PathValue("account"))
	if !ok {
		a.log.Warn("web: mailbox refused", "national_id", c.author(), "account", r.PathValue("account"))
		a.audit(r.Context(), c, r.PathValue("account"), audit.ActionRead, "web: "+r.URL.Path, errors.New("mailbox not opened by this identity"))
		a.notFound(w, r, c)
		return nil, false
	}
	uid, err := strconv.ParseUint(r.PathValue("uid"), 10, 32)
	folder := r.URL.Query().Get("folder")
	if folder == "" {
		folder = "INBOX"
	}
	if err != nil {
		a.notFound(w, r, c)
		return nil, false
	}
	m, err := a.o.Mail.Get(r.Context(), account, folder, uint32(uid))
	if err != nil {
		if !errors.Is(err, mailstore.ErrNotFound) {
			a.log.Error("web: read", "err", err)
		}
		a.notFound(w, r, c)
		return nil, false
	}
	l := &loaded{msg: m}
	if m.HasBody {
		if l.raw, err = a.o.Mail.Body(r.Context(), m); err == nil {
			l.parsed, err = mailbox.ParseStored(r.Context(), l.raw, mailbox.ParseOptions{PatientDomain: a.o.PatientDomain})
		}
		if err != nil {
			a.log.Warn("web: body", "account", account, "uid", uid, "err", err)
		}
	}
	return l, true
}

// handleRead shows one message: sender kind and patient identity, display subject, text or
// sanitised HTML, attachments, CDA documents, read receipt, timeline of a sent mail.
func (a *App) handleRead(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	l, ok := a.load(w, r, c)
	if !ok {
		return
	}
	m := l.msg
	remote := r.URL.Query().Get("remote") == "1"
	mv := &mailView{Account: m.Account, Folder: m.Folder, UID: m.UID, URL: mailURL(m.Account, m.Folder, m.UID),
		Msg: m, From: m.From, MDNPolicy: a.mdnPolicy(r.Context(), []string{m.Account}), Classify: a.o.ClassifyPatient != nil,
		RemoteShown: remote, NoBody: !m.HasBody}
	if m.FromName != "" {
		mv.From = m.FromName + " <" + m.From + ">"
	}
	mv.RemoteURL = mv.URL + "&remote=1"
	ref := "account=" + url.QueryEscape(m.Account) + "&folder=" + url.QueryEscape(m.Folder) + "&uid=" + fmt.Sprint(m.UID)
	mv.ReplyURL, mv.ReplyAllURL, mv.ForwardURL = "/app/compose?reply=1&"+ref, "/app/compose?all=1&reply=1&"+ref, "/app/compose?forward=1&"+ref
	if m.Patient != nil && m.Patient.INS != "" {
		mv.PatientURL = "/app/patient/" + url.PathEscape(m.Patient.INS)
	}
	if p := l.parsed; p != nil {
		for _, t := range p.To {
			mv.To = append(mv.To, t.String())
		}
		for _, t := range p.Cc {
			mv.Cc = append(mv.Cc, t.String())
		}
		mv.Text = p.Text
		if p.HTML != "" {
			mv.SrcDoc, mv.RemoteBlocked = sanitizeMail(p.HTML, remote)
			if mv.SrcDoc != "" && strings.TrimSpace(mv.Text) != "" && !remote {
				// Both: the text is shown only without the HTML.
				mv.Text = ""
			}
		}
		for i, att := range p.Attachments {
			mv.Attachments = append(mv.Attachments, partView{N: i, Name: firstNonEmpty(att.Name, fmt.Sprintf("piece-%d", i+1)),
				ContentType: att.ContentType, Size: int64(att.Size), URL: partURL(m, i),
				PDF: strings.HasPrefix(att.ContentType, "application/pdf")})
		}
		mv.Warnings = p.Warnings
		// A read receipt is the recipient's: not offered on the mailbox's own sent mail.
		mv.MDNAsked = p.MDNRequested && !strings.EqualFold(m.From, m.Account)
	}
	mv.MDNSent = slices.ContainsFunc(m.Flags, func(f string) bool { return strings.EqualFold(f, "$MDNSent") })
	if l.hasPackage() {
		mv.Documents = documentViews(l, mv.Attachments)
	}
	// ECO.3.1.6: the content is on the screen now; the account's policy decides (mailbox layer).
	if mv.MDNAsked && !mv.MDNSent && a.o.Operator != nil {
		outcome, err := a.o.Operator.Displayed(r.Context(), m.Account, c.author(), TokenFunc(c.sess.Token), m.Folder, m.UID, "")
		a.audit(r.Context(), c, m.Account, audit.ActionRead, fmt.Sprintf("web: displayed UID %d in %s (read receipt: %s)", m.UID, m.Folder, outcome), err)
		mv.mdnOutcome(outcome, err)
	}
	if reports, err := a.o.Mail.ReportsFor(r.Context(), m.MessageID); err == nil {
		mv.Reports = reports
	}
	if strings.EqualFold(m.From, m.Account) {
		mv.Timeline = a.timeline(r, m.Account, m.MessageID, mv.Reports)
	}
	a.audit(r.Context(), c, m.Account, audit.ActionRead, fmt.Sprintf("web: read UID %d in %s", m.UID, m.Folder), nil)
	if remote {
		w.Header().Set("Content-Security-Policy", csp(true))
	}
	a.render(w, r, c, http.StatusOK, "read", &pageData{Title: firstNonEmpty(m.DisplaySubject, "(sans objet)"), Mail: mv})
}

// mdnOutcome sets the read-receipt notice from the outcome of Operator.Displayed.
func (mv *mailView) mdnOutcome(outcome string, err error) {
	switch {
	case err != nil:
		mv.MDNNotice = "L'accusé de lecture n'a pas pu être traité : " + err.Error()
	case outcome == "queued" || outcome == "already":
		mv.MDNSent, mv.MDNNotice = true, "Accusé de lecture envoyé à l'expéditeur."
	case outcome == "declined":
		mv.MDNSent, mv.MDNNotice = true, "Aucun accusé de lecture envoyé (vos réglages ou votre choix)."
	case outcome == "ask":
		mv.MDNPolicy = "ask"
	}
}

func partURL(m mailstore.Message, n int) string {
	return "/app/mail/" + url.PathEscape(m.Account) + "/" + fmt.Sprint(m.UID) + "/part/" + fmt.Sprint(n) + "?folder=" + url.QueryEscape(m.Folder)
}

// documentViews reads the CDA documents of the archive: header and narrative, and the link of
// the PDF/A that goes with each (the PDF parts of the mail, in the order of the documents).
func documentViews(l *loaded, parts []partView) []cdaView {
	var pdfs []partView
	for _, p := range parts {
		if p.PDF {
			pdfs = append(pdfs, p)
		}
	}
	var out []cdaView
	for _, d := range l.parsed.Package.Documents {
		if d.CDA == nil {
			continue
		}
		doc := d.CDA
		v := cdaView{Title: firstNonEmpty(doc.Title, d.Entry.Title), Type: firstNonEmpty(doc.Code.DisplayName, d.Entry.TypeCode.Display, doc.Code.Code),
			Level: map[bool]string{true: "N1 (PDF)", false: "N3 (structuré)"}[doc.Body != nil]}
		id := doc.Patient.Identity
		v.Patient = strings.TrimSpace(strings.Join([]string{id.BirthName, id.FirstName}, " "))
		if !id.INS.Matricule.IsZero() {
			v.PatientINS = id.INS.Matricule.String()
			v.PatientURL = "/app/patient/" + url.PathEscape(v.PatientINS)
		}
		if !id.BirthDate.IsZero() {
			v.BirthDate = id.BirthDate.Format("02/01/2006")
		}
		v.Sex = sexLabel(id.Sex)
		for _, au := range doc.Authors {
			if au.Person != nil {
				v.Authors = append(v.Authors, personName(au.Person))
			}
		}
		if doc.Custodian != nil {
			v.Custodian = doc.Custodian.Name
		}
		if t := doc.ActDate(); !t.IsZero() {
			v.Date = t.Time.In(paris).Format("02/01/2006")
		}
		v.Sections = sections(doc.Sections)
		if len(pdfs) > len(out) {
			v.PDFURL, v.PDFName = pdfs[len(out)].URL, pdfs[len(out)].Name
		}
		out = append(out, v)
	}
	return out
}

func personName(p *cda.Person) string {
	parts := append(append([]string{p.Name.Prefix}, p.Name.Given...), p.Name.Family)
	return strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
}

func sections(ss []cda.Section) []sectionView {
	var out []sectionView
	for _, s := range ss {
		v := sectionView{Title: firstNonEmpty(s.Title, s.Code.DisplayName)}
		if s.Text != nil {
			var b strings.Builder
			narrative(&b, s.Text)
			v.HTML = template.HTML(b.String()) // built from escaped text and fixed tags only
		}
		v.Subs = sections(s.Sections)
		out = append(out, v)
	}
	return out
}

// narrative writes a CDA narrative block as HTML: fixed tags for the node kinds, every text
// escaped; links are shown as text (no navigation out of the app).
func narrative(b *strings.Builder, n *cda.Node) {
	tag := map[cda.NodeKind]string{cda.NodeParagraph: "p", cda.NodeList: "ul", cda.NodeItem: "li", cda.NodeTable: "table",
		cda.NodeCaption: "caption", cda.NodeTHead: "thead", cda.NodeTBody: "tbody", cda.NodeTFoot: "tfoot", cda.NodeRow: "tr",
		cda.NodeHeaderCell: "th", cda.NodeCell: "td", cda.NodeSub: "sub", cda.NodeSup: "sup", cda.NodeFootnote: "small"}[n.Kind]
	if n.Kind == cda.NodeList && n.Ordered {
		tag = "ol"
	}
	if n.Kind == cda.NodeContent {
		switch {
		case strings.Contains(n.StyleCode, "Bold"):
			tag = "strong"
		case strings.Contains(n.StyleCode, "Italics"):
			tag = "em"
		}
	}
	switch n.Kind {
	case cda.NodeText:
		b.WriteString(template.HTMLEscapeString(n.Text))
		return
	case cda.NodeBreak:
		b.WriteString("<br>")
		return
	}
	if tag != "" {
		b.WriteString("<" + tag + ">")
	}
	for _, ch := range n.Children {
		narrative(b, ch)
	}
	if tag != "" {
		b.WriteString("</" + tag + ">")
	}
}

// Policies of a mail's HTML (bluemonday, an allow-list): text, lists, tables and links only — no
// script, no event handler, no form, no style element, no frame; links open outside with no
// referrer; images only from data: URLs unless the professional showed the remote content.
var (
	localPolicy  = mailPolicy(false)
	remotePolicy = mailPolicy(true)
)

func mailPolicy(remote bool) *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowStandardURLs()
	p.AllowStandardAttributes()
	p.AllowLists()
	p.AllowTables()
	p.AllowElements("p", "br", "b", "i", "u", "s", "strong", "em", "small", "sub", "sup", "blockquote", "pre", "code",
		"h1", "h2", "h3", "h4", "h5", "h6", "hr", "div", "span", "font", "center", "address", "abbr", "del", "ins", "mark", "q")
	p.AllowAttrs("href").OnElements("a")
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	p.AllowDataURIImages()
	p.AllowAttrs("alt", "width", "height").OnElements("img")
	img := regexp.MustCompile(`^data:image/(png|gif|jpeg|webp);base64,`)
	if remote {
		img = regexp.MustCompile(`^(data:image/(png|gif|jpeg|webp);base64,|https?://)`)
	}
	p.AllowAttrs("src").Matching(img).OnElements("img")
	return p
}

// sanitizeMail returns the iframe document of a mail's HTML, and whether remote content was
// removed.
func sanitizeMail(html string, remote bool) (string, bool) {
	pol := localPolicy
	if remote {
		pol = remotePolicy
	}
	clean := pol.Sanitize(html)
	blocked := false
	if !remote {
		withRemote := remotePolicy.Sanitize(html)
		blocked = withRemote != clean || strings.Contains(strings.ToLower(html), "url(http")
	}
	imgSrc := "data:"
	if remote {
		imgSrc += " https: http:"
	}
	doc := `<!doctype html><html lang="fr"><head><meta charset="utf-8">` +
		`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src ` + imgSrc + `; style-src 'unsafe-inline'">` +
		`<base target="_blank"><style>body{font:16px/1.5 system-ui,sans-serif;color:#1a1a1a;margin:0;padding:.5rem;overflow-wrap:anywhere}img{max-width:100%;height:auto}</style>` +
		`</head><body>` + clean + `</body></html>`
	return doc, blocked
}

// handlePart sends an attachment (IHE_XDM.zip, the PDF/A of a document, a file): inline for a
// PDF, shown in the browser's viewer, as a download otherwise.
func (a *App) handlePart(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	l, ok := a.load(w, r, c)
	if !ok {
		return
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || l.parsed == nil || n < 0 {
		a.notFound(w, r, c)
		return
	}
	var name, ctype string
	var data []byte
	if n < len(l.parsed.Attachments) {
		att := l.parsed.Attachments[n]
		name, ctype, data = firstNonEmpty(att.Name, fmt.Sprintf("piece-%d", n+1)), att.ContentType, att.Data
	}
	if data == nil {
		a.notFound(w, r, c)
		return
	}
	a.audit(r.Context(), c, l.msg.Account, audit.ActionRead, fmt.Sprintf("web: part %d of UID %d in %s", n, l.msg.UID, l.msg.Folder), nil)
	disp := "attachment"
	if strings.HasPrefix(ctype, "application/pdf") && r.URL.Query().Get("download") != "1" {
		disp = "inline"
		ctype = "application/pdf"
		// Shown in the browser's PDF viewer, in a frame of the app.
		w.Header().Set("X-Frame-Options", "SAMEORIGIN")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'self'")
	} else {
		ctype = "application/octet-stream" // never rendered by the browser
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", mime.FormatMediaType(disp, map[string]string{"filename": mailbox.SafeFileName(name)}))
	_, _ = w.Write(data)
}

// handleMDN records the professional's answer under the "ask" policy: send the read receipt, or
// never (ECO.3.1.6).
func (a *App) handleMDN(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	l, ok := a.load(w, r, c)
	if !ok {
		return
	}
	if a.o.Operator == nil {
		a.fail(w, r, c, http.StatusServiceUnavailable, "Aucun opérateur n'est configuré.")
		return
	}
	answer := r.PostFormValue("answer")
	if answer != "send" && answer != "deny" {
		a.fail(w, r, c, http.StatusBadRequest, "Réponse inconnue.")
		return
	}
	outcome, err := a.o.Operator.Displayed(r.Context(), l.msg.Account, c.author(), TokenFunc(c.sess.Token), l.msg.Folder, l.msg.UID, answer)
	a.audit(r.Context(), c, l.msg.Account, audit.ActionSend, fmt.Sprintf("web: read receipt %s for UID %d in %s: %s", answer, l.msg.UID, l.msg.Folder, outcome), err)
	if err != nil {
		a.fail(w, r, c, http.StatusBadGateway, "L'accusé de lecture n'a pas pu être envoyé : "+err.Error())
		return
	}
	a.kick(c)
	http.Redirect(w, r, mailURL(l.msg.Account, l.msg.Folder, l.msg.UID), http.StatusSeeOther)
}

// handleClassify hands the message's documents to the patient record (gateway delivery).
func (a *App) handleClassify(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	l, ok := a.load(w, r, c)
	if !ok {
		return
	}
	if a.o.ClassifyPatient == nil {
		a.notFound(w, r, c)
		return
	}
	err := a.o.ClassifyPatient(r.Context(), l.msg.Account, l.msg.Folder, l.msg.UID)
	a.audit(r.Context(), c, l.msg.Account, audit.ActionMove, fmt.Sprintf("web: classify UID %d in %s", l.msg.UID, l.msg.Folder), err)
	if err != nil {
		a.fail(w, r, c, http.StatusBadGateway, "Le classement dans le dossier patient a échoué : "+err.Error())
		return
	}
	http.Redirect(w, r, mailURL(l.msg.Account, l.msg.Folder, l.msg.UID), http.StatusSeeOther)
}

func (a *App) kick(c *reqCtx) {
	a.mu.Lock()
	w := a.workers[c.sess.Key]
	a.mu.Unlock()
	if w != nil {
		w.poke()
	}
}

// timelineView is what became of a sent mail: outbox states, then the reports received.
type timelineView struct {
	Steps []stepView
}

type stepView struct {
	At     time.Time
	Label  string
	Detail string
	Bad    bool
}

var stateLabels = map[outbox.State]string{outbox.Queued: "En file d'attente", outbox.Sending: "Envoi en cours",
	outbox.Sent: "Envoyé", outbox.Delivered: "Distribué", outbox.Read: "Lu", outbox.Bounced: "Non distribué",
	outbox.Failed: "Échec de l'envoi"}

// timeline joins the outbox timeline of messageID (when the outbox has it) and the reports of
// the index (DSN, MDN, bounces).
func (a *App) timeline(r *http.Request, account, messageID string, reports []mailstore.ReceivedReport) *timelineView {
	tv := &timelineView{}
	if a.o.Outbox != nil && messageID != "" {
		if entries, err := a.o.Outbox.List(r.Context(), outbox.Filter{Account: account}); err == nil {
			for _, e := range entries {
				if strings.Trim(e.MessageID, "<>") != strings.Trim(messageID, "<>") {
					continue
				}
				events, _ := a.o.Outbox.Timeline(r.Context(), e.ID)
				for _, ev := range events {
					tv.Steps = append(tv.Steps, stepView{At: ev.At, Label: firstNonEmpty(stateLabels[ev.State], string(ev.State)),
						Detail: ev.Reason, Bad: ev.State == outbox.Bounced || ev.State == outbox.Failed})
				}
			}
		}
	}
	fromOutbox := map[string]bool{}
	for _, st := range tv.Steps {
		fromOutbox[st.Label] = true
	}
	for _, rp := range reports {
		s := stepView{At: rp.Date, Detail: strings.TrimSpace(rp.Recipient + " " + rp.Status + " " + rp.Reason), Bad: rp.Failed}
		switch {
		case rp.Failed:
			s.Label = "Non distribué"
		case rp.Kind == "mdn":
			s.Label = "Lu"
		default:
			s.Label = "Distribué"
		}
		if fromOutbox[s.Label] {
			continue // the outbox applied this report already (Refresh)
		}
		tv.Steps = append(tv.Steps, s)
	}
	if len(tv.Steps) == 0 {
		return nil
	}
	slices.SortStableFunc(tv.Steps, func(x, y stepView) int { return x.At.Compare(y.At) })
	return tv
}

// handleSent shows the timeline of an outbox entry (after a send).
func (a *App) handleSent(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || a.o.Outbox == nil {
		a.notFound(w, r, c)
		return
	}
	e, err := a.o.Outbox.Get(r.Context(), id)
	if err != nil {
		a.notFound(w, r, c)
		return
	}
	if _, ok := c.allowed(e.Account); !ok {
		a.notFound(w, r, c)
		return
	}
	reports, _ := a.o.Mail.ReportsFor(r.Context(), e.MessageID)
	tv := a.timeline(r, e.Account, e.MessageID, reports)
	a.render(w, r, c, http.StatusOK, "sent", &pageData{Title: "Suivi de l'envoi", Timeline: tv,
		Notice: "Message " + e.MessageID + " à " + strings.Join(e.Rcpts, ", ")})
}
