package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/internal/mailstore"
)

// listView is a page of messages.
type listView struct {
	Accounts []string
	Folder   string
	Folders  []string
	Sort     string
	Reverse  bool
	Thread   bool
	Unseen   bool
	Search   string
	Rows     []rowView
	Next     string // URL of the next page
	First    string // URL of the first page (shown once past it)
	Empty    string
	Multi    bool // several mailboxes: show the mailbox of each row
}

// rowView is one message of a list.
type rowView struct {
	URL        string
	Account    string
	From       string // display name, else address
	FromAddr   string
	Kind       mailstore.SenderKind
	Patient    *mailstore.Patient
	Subject    string
	Date       time.Time
	Seen       bool
	Docs       []docBadge
	InThread   bool // not the first message of its conversation (thread view)
	ThreadSize int
	Size       int64
}

type docBadge struct {
	Type    string
	Patient string // the INS of the document's patient
	URL     string // the patient view
}

var sortLabels = map[string]bool{"date": true, "sender": true, "subject": true, "patient": true}

// handleInbox lists the messages of the selected mailboxes (all by default, ECO.3.2.3) from the
// local index: sorts (ECO.3.2.2), conversations (ECO.3.2.1), search, keyset pages.
func (a *App) handleInbox(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	q := r.URL.Query()
	var accounts []string
	for _, m := range q["mb"] {
		addr, ok := c.allowed(m)
		if !ok {
			a.notFound(w, r, c)
			return
		}
		accounts = append(accounts, addr)
	}
	if len(accounts) == 0 {
		accounts = c.addresses()
	}
	lv := &listView{Folder: q.Get("folder"), Sort: q.Get("sort"), Reverse: q.Get("rev") == "1",
		Thread: q.Get("thread") == "1", Unseen: q.Get("unseen") == "1", Search: strings.TrimSpace(q.Get("q")),
		Multi: len(accounts) > 1}
	if lv.Folder == "" {
		lv.Folder = "INBOX"
	}
	if !sortLabels[lv.Sort] {
		lv.Sort = "date"
	}
	// Mailboxes never synchronised are not in the index yet.
	known, folders := a.indexed(r.Context(), accounts)
	lv.Accounts, lv.Folders = accounts, folders
	d := &pageData{Title: "Boîte de réception", List: lv}
	if lv.Search != "" {
		d.Title = "Recherche"
	}
	if len(known) == 0 {
		lv.Empty = "Aucun message synchronisé pour l'instant."
		a.render(w, r, c, http.StatusOK, "inbox", d)
		return
	}
	var msgs []mailstore.Message
	var next string
	var err error
	if lv.Search != "" {
		msgs, err = a.o.Mail.Search(r.Context(), lv.Search, 100, known...)
	} else {
		sort, _ := mailstore.ParseSort(lv.Sort)
		var page mailstore.Page
		page, err = a.o.Mail.List(r.Context(), mailstore.Query{Accounts: known, Folders: []string{lv.Folder},
			Sort: sort, Reverse: lv.Reverse, Thread: lv.Thread, Unseen: lv.Unseen, Limit: 50, After: q.Get("after"),
			Offset: atoiDefault(q.Get("offset"), 0)})
		msgs, next = page.Messages, page.Next
		if lv.Thread && len(msgs) > 0 {
			// Thread pages count threads with Offset.
			if n := atoiDefault(q.Get("offset"), 0) + 50; len(distinctThreads(msgs)) >= 50 {
				next = "offset:" + itoa(n)
			} else {
				next = ""
			}
		}
	}
	if err != nil {
		a.log.Error("web: list", "err", err)
		a.fail(w, r, c, http.StatusInternalServerError, "Impossible de lire la liste des messages.")
		return
	}
	a.audit(r.Context(), c, strings.Join(known, ","), audit.ActionList, "web: list "+lv.Folder+" sort="+lv.Sort, nil)
	lv.Rows = rows(msgs, lv.Thread)
	if len(lv.Rows) == 0 {
		lv.Empty = "Aucun message."
		if lv.Search != "" {
			lv.Empty = "Aucun message ne correspond à « " + lv.Search + " »."
		}
	}
	if next != "" {
		u := *r.URL
		qq := u.Query()
		qq.Del("after")
		qq.Del("offset")
		if n, ok := strings.CutPrefix(next, "offset:"); ok {
			qq.Set("offset", n)
		} else {
			qq.Set("after", next)
		}
		u.RawQuery = qq.Encode()
		lv.Next = u.RequestURI()
	}
	if q.Get("after") != "" || q.Get("offset") != "" {
		u := *r.URL
		qq := u.Query()
		qq.Del("after")
		qq.Del("offset")
		u.RawQuery = qq.Encode()
		lv.First = u.RequestURI()
	}
	a.render(w, r, c, http.StatusOK, "inbox", d)
}

// indexed returns the accounts the index knows and the union of their folder names (INBOX
// first).
func (a *App) indexed(ctx context.Context, accounts []string) ([]string, []string) {
	var known, folders []string
	seen := map[string]bool{}
	for _, acc := range accounts {
		fs, err := a.foldersOf(ctx, acc)
		if err != nil {
			if !errors.Is(err, mailstore.ErrNotFound) {
				a.log.Warn("web: folders", "account", acc, "err", err)
			}
			continue
		}
		known = append(known, acc)
		for _, f := range fs {
			if !seen[f.Name] {
				seen[f.Name] = true
				if strings.EqualFold(f.Name, "INBOX") {
					folders = append([]string{f.Name}, folders...)
				} else {
					folders = append(folders, f.Name)
				}
			}
		}
	}
	return known, folders
}

func distinctThreads(msgs []mailstore.Message) map[string]bool {
	out := map[string]bool{}
	for _, m := range msgs {
		out[m.Account+"\x00"+m.ThreadID] = true
	}
	return out
}

// rows turns index messages into list rows (ECO.3.1.1–3.1.3: kind, patient, display subject).
func rows(msgs []mailstore.Message, thread bool) []rowView {
	out := make([]rowView, 0, len(msgs))
	size := map[string]int{}
	if thread {
		for _, m := range msgs {
			size[m.Account+"\x00"+m.ThreadID]++
		}
	}
	prev := ""
	for _, m := range msgs {
		rv := rowView{URL: mailURL(m.Account, m.Folder, m.UID), Account: m.Account, From: m.FromName,
			FromAddr: m.From, Kind: m.SenderKind, Patient: m.Patient, Subject: m.DisplaySubject,
			Date: m.Date, Seen: m.Seen, Size: m.Size}
		if rv.From == "" {
			rv.From = m.From
		}
		if rv.Subject == "" {
			rv.Subject = "(sans objet)"
		}
		for _, doc := range m.Documents {
			b := docBadge{Type: firstNonEmpty(doc.TypeLabel, doc.TypeCode, "Document"), Patient: doc.INS}
			if doc.INS != "" {
				b.URL = "/app/patient/" + url.PathEscape(doc.INS)
			}
			rv.Docs = append(rv.Docs, b)
		}
		if thread {
			key := m.Account + "\x00" + m.ThreadID
			rv.InThread = key == prev
			rv.ThreadSize = size[key]
			prev = key
		}
		out = append(out, rv)
	}
	return out
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

func atoiDefault(s string, def int) int {
	n := 0
	if s == "" || len(s) > 9 {
		return def
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return def
		}
		n = n*10 + int(r-'0')
	}
	return n
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}
