package web

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mssante/mssante/internal/mailstore"
)

// pageData is what every page template receives; each page fills its own fields.
type pageData struct {
	Title  string
	Error  string
	Notice string

	// set by render
	Pro       proView
	CSRF      string
	Mailboxes []mailboxView
	Sync      syncSummary
	LockAfter int // seconds
	Path      string

	// inbox and patient view
	List *listView
	// reading
	Mail *mailView
	// compose
	Compose *composeView
	// patients
	Patients []patientView
	Patient  *patientView
	Docs     []docView
	// directory (no-script page)
	Query   string
	Entries []entryView
	// settings
	MDNPolicy string
	// sent mail timeline
	Timeline *timelineView
}

type proView struct {
	Name, NationalID string
}

type mailboxView struct {
	Address  string
	Source   string
	Unread   int
	Selected bool
	Synced   bool
}

func parseTemplates() (*template.Template, error) {
	funcs := template.FuncMap{
		"date": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(paris).Format("02/01/2006 15:04")
		},
		"isodate": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"size":    humanSize,
		"query":   url.QueryEscape,
		"path":    url.PathEscape,
		"mailURL": mailURL,
		"kindLabel": func(k mailstore.SenderKind) string {
			switch k {
			case mailstore.SenderPatient:
				return "Patient"
			case mailstore.SenderApplicative:
				return "Logiciel"
			case mailstore.SenderNotice:
				return "Mon espace santé"
			}
			return "Professionnel"
		},
		"join":       strings.Join,
		"firstTitle": func(v ...string) string { return firstNonEmpty(v...) },
	}
	// wbr lets an address break after its "@" (the mailbox list of the navigation).
	funcs["wbr"] = func(s string) template.HTML {
		local, domain, ok := strings.Cut(s, "@")
		if !ok {
			return template.HTML(template.HTMLEscapeString(s))
		}
		return template.HTML(template.HTMLEscapeString(local) + "@<wbr>" + template.HTMLEscapeString(domain))
	}
	return template.New("").Funcs(funcs).ParseFS(files, "templates/*.html")
}

var paris = func() *time.Location {
	l, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return l
}()

func mailURL(account, folder string, uid uint32) string {
	return "/app/mail/" + url.PathEscape(account) + "/" + fmt.Sprint(uid) + "?folder=" + url.QueryEscape(folder)
}

func humanSize(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d o", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.0f ko", float64(n)/1000)
	}
	return fmt.Sprintf("%.1f Mo", float64(n)/1e6)
}

// render writes a page with the layout: the professional, the mailboxes with unread counts,
// the sync state, the CSRF token.
func (a *App) render(w http.ResponseWriter, r *http.Request, c *reqCtx, status int, name string, d *pageData) {
	d.Pro = proView{Name: strings.TrimSpace(c.sess.Pro.GivenName + " " + c.sess.Pro.FamilyName), NationalID: c.sess.Pro.NationalID}
	d.CSRF = c.csrf
	d.LockAfter = int(a.o.LockAfter / time.Second)
	d.Path = r.URL.RequestURI()
	selected := map[string]bool{}
	for _, m := range r.URL.Query()["mb"] {
		selected[strings.ToLower(m)] = true
	}
	for _, m := range c.mailboxes {
		v := mailboxView{Address: m.Address, Source: m.Source, Selected: selected[strings.ToLower(m.Address)]}
		if folders, err := a.foldersOf(r.Context(), m.Address); err == nil {
			for _, f := range folders {
				v.Synced = true
				if strings.EqualFold(f.Name, "INBOX") {
					v.Unread += f.Unseen
				}
			}
		}
		d.Mailboxes = append(d.Mailboxes, v)
	}
	d.Sync = a.syncSummary(c, c.addresses())
	var buf bytes.Buffer
	if err := a.tpl.ExecuteTemplate(&buf, name, d); err != nil {
		a.log.Error("web: render", "page", name, "err", err)
		http.Error(w, "Erreur d'affichage.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail shows an error page (in French).
func (a *App) fail(w http.ResponseWriter, r *http.Request, c *reqCtx, status int, msg string) {
	if c == nil || strings.Contains(r.Header.Get("Accept"), "application/json") {
		http.Error(w, msg, status)
		return
	}
	a.render(w, r, c, status, "error", &pageData{Title: "Erreur", Error: msg})
}

// notFound is the answer to a mailbox or message the professional may not open, or that does
// not exist: the same page, so that another professional's mailbox is not disclosed.
func (a *App) notFound(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	a.fail(w, r, c, http.StatusNotFound, "Boîte aux lettres ou message introuvable.")
}
