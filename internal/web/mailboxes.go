package web

import (
	"context"
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strings"

	"github.com/mssante/mssante/internal/annuaire"
	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/server"
	"github.com/mssante/mssante/internal/store"
)

// Migrations are the web's tables: the mailboxes added by professionals (kept once a login to
// them succeeded) and their drafts. The read-receipt setting is the mail index's (per account).
var Migrations = []store.Migration{{
	Package: "web",
	Version: 1,
	SQL: `
CREATE TABLE web_mailboxes (
	national_id TEXT NOT NULL,
	address     TEXT NOT NULL,
	added_at    TEXT NOT NULL,
	PRIMARY KEY (national_id, address)
);
CREATE TABLE web_drafts (
	national_id TEXT NOT NULL,
	id          TEXT NOT NULL,
	saved_at    TEXT NOT NULL,
	fields      TEXT NOT NULL,
	PRIMARY KEY (national_id, id)
);`,
}}

// Mailbox is one mailbox the professional may open, with where that right comes from.
type Mailbox struct {
	Address string
	// Source: "psc" (session claims), "annuaire" (national id) or "added" (by the professional).
	Source string
}

// DirectoryMailboxes looks up the mailboxes of a national id in a directory source (entries
// whose NationalID is the professional's), for Options.MailboxesOf.
func DirectoryMailboxes(src annuaire.Source) func(ctx context.Context, nationalID string) ([]string, error) {
	return func(ctx context.Context, nationalID string) ([]string, error) {
		entries, err := src.Search(ctx, annuaire.Query{Text: nationalID, Limit: 50})
		if err != nil {
			return nil, err
		}
		var out []string
		for _, e := range entries {
			if e.NationalID == nationalID && e.Address != "" {
				out = append(out, e.Address)
			}
		}
		return out, nil
	}
}

// mailboxesOf returns every mailbox the session's identity opens: the session's (PSC claims or
// the server's lookup), the Annuaire's for the national id, and those added and logged in to.
func (a *App) mailboxesOf(ctx context.Context, sess *server.BrowserSession) ([]Mailbox, error) {
	var out []Mailbox
	add := func(addr, src string) {
		addr = strings.TrimSpace(addr)
		if addr == "" || slices.ContainsFunc(out, func(m Mailbox) bool { return strings.EqualFold(m.Address, addr) }) {
			return
		}
		out = append(out, Mailbox{Address: addr, Source: src})
	}
	for _, m := range sess.Pro.Mailboxes {
		add(m, "psc")
	}
	if a.o.MailboxesOf != nil {
		list, err := a.o.MailboxesOf(ctx, sess.Pro.NationalID)
		if err != nil {
			a.log.Warn("web: annuaire lookup of the national id", "national_id", sess.Pro.NationalID, "err", err)
		}
		for _, m := range list {
			add(m, "annuaire")
		}
	}
	rows, err := a.db.QueryContext(ctx, `SELECT address FROM web_mailboxes WHERE national_id = ? ORDER BY added_at, address`,
		sess.Pro.NationalID)
	if err != nil {
		return nil, fmt.Errorf("reading added mailboxes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var addr string
		if err := rows.Scan(&addr); err != nil {
			return nil, fmt.Errorf("reading added mailboxes: %w", err)
		}
		add(addr, "added")
	}
	return out, rows.Err()
}

// handleMailboxes shows the mailboxes and the form to add one.
func (a *App) handleMailboxes(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	a.render(w, r, c, http.StatusOK, "mailboxes", &pageData{Title: "Boîtes aux lettres", MDNPolicy: a.mdnPolicy(r.Context(), c.addresses())})
}

// handleAddMailbox adds a mailbox the professional opens with their PSC identity (an
// organisational mailbox the claims did not list): it is kept only once a sync logged in to it
// with the session's token, so that nobody sees a mailbox their identity does not open.
func (a *App) handleAddMailbox(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	addr := strings.TrimSpace(r.PostFormValue("address"))
	d := &pageData{Title: "Boîtes aux lettres", MDNPolicy: a.mdnPolicy(r.Context(), c.addresses())}
	if p, err := mail.ParseAddress(addr); err != nil || p.Address != addr {
		d.Error = "Adresse MSSanté invalide."
		a.render(w, r, c, http.StatusBadRequest, "mailboxes", d)
		return
	}
	if _, ok := c.allowed(addr); ok {
		http.Redirect(w, r, "/app/inbox?mb="+addr, http.StatusSeeOther)
		return
	}
	if a.o.Operator == nil {
		d.Error = "Aucun opérateur n'est configuré : impossible de vérifier l'accès à cette boîte."
		a.render(w, r, c, http.StatusServiceUnavailable, "mailboxes", d)
		return
	}
	err := a.o.Operator.Sync(r.Context(), addr, c.author(), TokenFunc(c.sess.Token))
	a.dropFolders(addr)
	a.audit(r.Context(), c, addr, audit.ActionAuth, "web: add mailbox", err)
	if err != nil {
		d.Error = "Connexion à " + addr + " refusée avec votre identité Pro Santé Connect : " + err.Error()
		a.render(w, r, c, http.StatusForbidden, "mailboxes", d)
		return
	}
	if _, err := a.db.ExecContext(r.Context(), `INSERT INTO web_mailboxes (national_id, address, added_at) VALUES (?, ?, ?)
		ON CONFLICT (national_id, address) DO NOTHING`, c.author(), addr, a.now().UTC().Format("2006-01-02T15:04:05Z")); err != nil {
		a.fail(w, r, c, http.StatusInternalServerError, "Impossible d'enregistrer la boîte.")
		return
	}
	a.restartWorker(c.sess.Key)
	http.Redirect(w, r, "/app/inbox?mb="+addr, http.StatusSeeOther)
}

// mdnPolicy is the read-receipt policy of the professional's mailboxes (ECO.3.1.6), as the mail
// index keeps it per account (mailstore.Settings, also `mssante mail settings`): the first
// mailbox's.
func (a *App) mdnPolicy(ctx context.Context, accounts []string) string {
	for _, acc := range accounts {
		if st, err := a.o.Mail.Settings(ctx, acc); err == nil {
			return string(st.MDN)
		}
	}
	return string(mailstore.DefaultMDNPolicy)
}

// handleSettings saves the read-receipt policy of every mailbox of the professional.
func (a *App) handleSettings(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	p, err := mailstore.ParseMDNPolicy(r.PostFormValue("mdn_policy"))
	if err != nil {
		a.fail(w, r, c, http.StatusBadRequest, "Réglage inconnu.")
		return
	}
	for _, acc := range c.addresses() {
		if err := a.o.Mail.SetMDNPolicy(r.Context(), acc, p); err != nil {
			a.fail(w, r, c, http.StatusInternalServerError, "Impossible d'enregistrer le réglage.")
			return
		}
	}
	http.Redirect(w, r, "/app/mailboxes", http.StatusSeeOther)
}
