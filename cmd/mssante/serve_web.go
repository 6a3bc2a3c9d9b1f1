package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mssante/mssante/ins"
	"github.com/mssante/mssante/internal/annuaire"
	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/internal/config"
	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/outbox"
	"github.com/mssante/mssante/internal/patients"
	"github.com/mssante/mssante/internal/server"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/web"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/message"
	"github.com/mssante/mssante/trust"
)

// The web application of `mssante serve` (internal/web) and its operator side, over
// internal/mailbox (one mailbox.Account per operation, with the session's token) and
// internal/outbox (durable sending).

// webOperator implements web.Operator over the API LPS: IMAP (sync, IDLE, flags) and SMTP
// (submission), XOAUTH2 with the session's token, the TLS policy, the audit trail.
type webOperator struct {
	ms            *mailstore.Store
	patients      *patients.Store
	policy        *trust.Policy
	autoconfigURL string
	trail         *audit.Trail
	patientDomain string
	outbox        *outbox.Outbox
	// entities are the display labels of organisational mailboxes (ECO.2.2.7: "<Entité>"); a
	// mailbox not listed is personal ("<Prénom> <NOM>" of the professional).
	entities map[string]string
	log      *slog.Logger

	// tokens are the token functions of the last session that sent from each account: the
	// outbox runner submits with them (a mail queued while no session of its account lives waits
	// and is retried).
	mu     sync.Mutex
	tokens map[string]senderCreds
}

type senderCreds struct {
	author string
	tokens web.TokenFunc
}

// runOutbox sends the queued mail (internal/outbox: durable, retried, exactly once but for one
// window) and applies the reports the sync found (delivered, read, bounced) until ctx ends.
func (o *webOperator) runOutbox(ctx context.Context) {
	sender := outbox.SenderFunc(func(ctx context.Context, account string) (outbox.Session, error) {
		o.mu.Lock()
		cr, ok := o.tokens[strings.ToLower(account)]
		o.mu.Unlock()
		if !ok {
			return nil, fmt.Errorf("no session of %s to send with", account)
		}
		acct, err := o.account(account, cr.author, cr.tokens)
		if err != nil {
			return nil, err
		}
		return mailbox.OutboxSession(acct, 2*time.Minute), nil
	})
	go func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := o.outbox.Refresh(ctx, indexReports{o.ms}, outbox.Filter{}); err != nil && ctx.Err() == nil {
					o.log.Warn("web: outbox refresh", "err", err)
				}
			}
		}
	}()
	if _, err := o.outbox.Run(ctx, sender, outbox.RunOptions{Workers: 1, Poll: time.Second}); err != nil && ctx.Err() == nil {
		o.log.Error("web: outbox runner stopped", "err", err)
	}
}

// knownPatients is the patients store as mailbox reads it: no known patient with a matricule is
// an empty answer, not an error (patients.Store.ByMatricule says ErrNotFound, which makes
// mailbox.Account.Read, hence MDN, fail on a mail about a patient the software does not know).
// TODO(lead): mailbox.Read should treat patients.ErrNotFound as "none"; then pass the store.
type knownPatients struct{ s *patients.Store }

func (k knownPatients) ByMatricule(ctx context.Context, m string) ([]patients.Patient, error) {
	list, err := k.s.ByMatricule(ctx, m)
	if errors.Is(err, patients.ErrNotFound) {
		return nil, nil
	}
	return list, err
}

func (k knownPatients) Get(ctx context.Context, id int64) (patients.Patient, error) {
	return k.s.Get(ctx, id)
}

// indexReports gives the outbox the reports the local index found (DSN, MDN, bounces).
type indexReports struct{ ms *mailstore.Store }

func (r indexReports) ReportsFor(ctx context.Context, messageID string) ([]outbox.Report, error) {
	list, err := r.ms.ReportsFor(ctx, messageID)
	if err != nil {
		return nil, err
	}
	var out []outbox.Report
	for _, rp := range list {
		if st, ok := outbox.Classify(rp.Kind, rp.Action, rp.Disposition, rp.Failed); ok {
			out = append(out, outbox.Report{State: st, Reason: strings.TrimSpace(rp.Status + " " + rp.Reason + " " + rp.Disposition),
				Recipient: rp.Recipient, At: rp.Date})
		}
	}
	return out, nil
}

// label is the sender label of the From address (ECO.2.2.7).
func (o *webOperator) label(address string, d *web.Draft) (string, error) {
	if e, ok := o.entities[strings.ToLower(address)]; ok {
		return message.SenderLabel{Kind: message.Organisational, Entity: e}.Label()
	}
	return message.SenderLabel{Kind: message.Personal, FirstName: d.GivenName, Name: d.FamilyName}.Label()
}

// account is the mailbox.Account of address for one operation, authenticated with the
// session's token (XOAUTH2).
func (o *webOperator) account(address, author string, tokens web.TokenFunc) (*mailbox.Account, error) {
	return mailbox.New(o.options(address, author, tokens))
}

func (o *webOperator) options(address, author string, tokens web.TokenFunc) mailbox.Options {
	return mailbox.Options{Address: address, Credentials: mailbox.Credentials{Tokens: lps.TokenSourceFunc(tokens)},
		Author: author, AutoconfigURL: o.autoconfigURL, Policy: o.policy, Audit: o.trail, Patients: knownPatients{o.patients},
		PatientDomain: o.patientDomain, Logger: o.log}
}

// Sync brings the account into the local index (mailstore.Sync over one IMAP session).
func (o *webOperator) Sync(ctx context.Context, address, author string, tokens web.TokenFunc) error {
	acct, err := o.account(address, author, tokens)
	if err != nil {
		return err
	}
	defer acct.Close()
	ic, err := acct.DialIMAP(ctx)
	if err != nil {
		return err
	}
	defer ic.Close()
	_, err = o.ms.Sync(ctx, ic, address, nil)
	return err
}

// Watch keeps IDLE on INBOX (mailbox.Account.Watch: reconnects, re-IDLE) and calls changed on
// each new mail or reconnection.
func (o *webOperator) Watch(ctx context.Context, address, author string, tokens web.TokenFunc, changed func()) error {
	acct, err := o.account(address, author, tokens)
	if err != nil {
		return err
	}
	defer acct.Close()
	return acct.Watch(ctx, "INBOX", &mailbox.WatchOptions{OnEvent: func(ev mailbox.WatchEvent) {
		if ev.Kind == "mail" || ev.Kind == "reconnected" {
			changed()
		}
	}})
}

// Send composes the draft with mailbox.Account.Compose (recipients resolved with the patient
// rule; MSSanté headers, XDM, PDF/A) and queues its envelope in the durable outbox.
func (o *webOperator) Send(ctx context.Context, address, author string, tokens web.TokenFunc, d *web.Draft) (*web.Sent, error) {
	label, err := o.label(address, d)
	if err != nil {
		return nil, err
	}
	md := &mailbox.Draft{Draft: message.Draft{From: message.Address{Name: label, Addr: address}, Subject: d.Subject, Text: d.Text,
		CDAs: d.CDAs, DSN: d.DSN, MDN: d.MDN, MESFin: d.MESFin, Derogation: d.Derogation}, ToPatients: d.ToPatients}
	for _, f := range d.Files {
		md.Files = append(md.Files, message.File{Name: f.Name, ContentType: f.ContentType, Data: f.Data})
	}
	for _, x := range d.To {
		md.To = append(md.To, message.Address{Addr: x})
	}
	for _, x := range d.Cc {
		md.Cc = append(md.Cc, message.Address{Addr: x})
	}
	var forwarded []message.Attachment
	if d.Parent != nil && len(d.Parent.Raw) > 0 {
		pm, err := mailbox.ParseStored(ctx, d.Parent.Raw, mailbox.ParseOptions{PatientDomain: o.patientDomain})
		if err != nil {
			return nil, err
		}
		if d.Forward {
			// The forwarded documents go again, packaged for this mail (IHE_XDM.zip and their
			// PDF/A are made anew); every other file of the parent is carried as it came.
			if len(pm.XDM) > 0 {
				cdas, err := pm.CDAs()
				if err != nil {
					return nil, err
				}
				md.CDAs = append(md.CDAs, cdas...)
			}
			for i, a := range pm.Attachments {
				if len(pm.XDM) > 0 && bytes.Equal(a.Data, pm.XDM) {
					continue // packaged again above
				}
				if strings.TrimSpace(a.Name) == "" {
					a.Name = fmt.Sprintf("piece-jointe-%d%s", i+1, firstExt(a.ContentType))
				}
				forwarded = append(forwarded, a)
			}
		} else {
			md.Parent = pm.Parent()
		}
	}
	acct, err := o.account(address, author, tokens)
	if err != nil {
		return nil, err
	}
	defer acct.Close()
	c, env, err := acct.Compose(ctx, md)
	if err != nil {
		return nil, err
	}
	if extra := notCarried(forwarded, c.Data); len(extra) > 0 {
		// The parent's plain files (those the new packaging did not make again) go as files.
		for _, a := range extra {
			md.Files = append(md.Files, message.File{Name: a.Name, ContentType: a.ContentType, Data: a.Data})
		}
		if c, env, err = acct.Compose(ctx, md); err != nil {
			return nil, fmt.Errorf("forwarding the attachments of the original: %w", err)
		}
	}
	if missing := notCarried(forwarded, c.Data); len(missing) > 0 {
		return nil, fmt.Errorf("la pièce jointe %q du message d'origine ne peut pas être transférée", missing[0].Name)
	}
	// Stored in the durable outbox before any SMTP command; the runner sends it.
	var dsn *outbox.DSN
	if env.DSN != nil {
		dsn = &outbox.DSN{}
	}
	o.mu.Lock()
	o.tokens[strings.ToLower(address)] = senderCreds{author: author, tokens: tokens}
	o.mu.Unlock()
	e, err := o.outbox.Add(ctx, outbox.Message{Account: address, From: address, Rcpts: env.Recipients, Raw: env.Data, DSN: dsn})
	if err != nil {
		return nil, err
	}
	// A copy in Sent, as mail clients keep one (best effort).
	if err := acct.CopyToSent(ctx, c.Data); err != nil {
		o.log.Warn("web: copy to Sent", "account", address, "err", err)
	}
	return &web.Sent{MessageID: c.MessageID, Recipients: env.Recipients, OutboxID: e.ID}, nil
}

// Displayed hands a displayed message to mailbox.Account.Displayed (ECO.3.1.6): the account's
// policy (mailstore settings), the receipt queued once in the durable outbox, $MDNSent set.
func (o *webOperator) Displayed(ctx context.Context, address, author string, tokens web.TokenFunc, folder string, uid uint32, answer string) (string, error) {
	acct, err := o.account(address, author, tokens)
	if err != nil {
		return "", err
	}
	defer acct.Close()
	o.mu.Lock()
	o.tokens[strings.ToLower(address)] = senderCreds{author: author, tokens: tokens} // the runner sends the receipt
	o.mu.Unlock()
	res, err := acct.Displayed(ctx, o.ms, o.outbox, folder, uid, &mailbox.DisplayedOptions{Answer: mailbox.MDNAnswer(answer)})
	if err != nil {
		return "", err
	}
	return res.Outcome, nil
}

// webApp builds the web application of serve over the main database (mail index, known patients,
// outbox, the web's tables) and the local annuaire index when one was imported.
func webApp(ctx context.Context, url, dataDir, autoconfigURL, patientDomain string, entities map[string]string, dir config.Annuaire,
	pol *trust.Policy, trail *audit.Trail, sessions func(r *http.Request) (*server.BrowserSession, bool), log *slog.Logger) (*web.App, func(), error) {
	migs := append(append(append(mailstore.Migrations(), patients.Migrations...), outbox.Migrations...), web.Migrations...)
	db, err := store.Open(ctx, url, migs...)
	if err != nil {
		return nil, nil, err
	}
	pats := patients.New(db)
	if patientDomain == "" {
		patientDomain = ins.DefaultPatientDomain
	}
	ms := mailstore.New(db, &mailstore.Options{Patients: pats, PatientDomain: patientDomain, Logger: log})
	ob := outbox.New(db, &outbox.Options{Logger: log})
	op := &webOperator{ms: ms, patients: pats, policy: pol, autoconfigURL: autoconfigURL, trail: trail,
		patientDomain: patientDomain, outbox: ob, entities: entities, log: log, tokens: map[string]senderCreds{}}
	octx, stopOutbox := context.WithCancel(ctx)
	outboxDone := make(chan struct{})
	if pol != nil {
		go func() { defer close(outboxDone); op.runOutbox(octx) }()
	} else {
		close(outboxDone)
	}
	o := web.Options{Sessions: sessions, Mail: ms, DB: db, Patients: pats, Outbox: ob, Audit: trail,
		PatientDomain: patientDomain, Logger: log}
	if pol != nil {
		o.Operator = op
	}
	src, dirs, err := webDirectory(dir, dataDir, log)
	if err != nil {
		stopOutbox()
		<-outboxDone
		db.Close()
		return nil, nil, err
	}
	o.Directory = src
	if dirs.local != nil {
		o.MailboxesOf = web.DirectoryMailboxes(dirs.local)
	}
	app, err := web.New(o)
	if err != nil {
		stopOutbox()
		<-outboxDone
		dirs.close()
		db.Close()
		return nil, nil, err
	}
	return app, func() {
		_ = app.Close()
		stopOutbox()
		<-outboxDone
		dirs.close()
		db.Close()
	}, nil
}

// webRemoteTimeout bounds a remote directory search of the autocomplete: past it, the local
// answers are shown alone.
const webRemoteTimeout = 5 * time.Second

// webDirectory is the directory of the compose screen (ECO.3.1.4): the sources of
// annuaire.source (--source) in their order, each one's answers after the previous ones' (by
// default the local index only; "local,fhir": the local index first, then the Annuaire Santé FHIR
// API of annuaire.fhir.url with the ESANTE-API-KEY of annuaire.fhir.api_key_file). A remote
// source that fails leaves the others' answers (the web app logs the failure). The local index,
// when one was imported, also gives the mailboxes of a national id.
func webDirectory(dir config.Annuaire, dataDir string, log *slog.Logger) (src annuaire.Source, o *openedSources, err error) {
	o, err = openSources(firstNonEmpty(dir.Source, "local"), dataDir, &remoteOptions{cfg: dir, timeout: webRemoteTimeout}, true)
	if err != nil {
		return nil, nil, err
	}
	if o.missingLocal != "" {
		log.Info("web: no local directory index (mssante annuaire import)", "path", o.missingLocal)
	}
	for i, name := range o.names {
		if name == "fhir" && dir.FHIR.APIKeyFile == "" && dir.FHIR.APIKey.Reveal() == "" {
			log.Warn("web: FHIR directory without an ESANTE-API-KEY (--fhir-api-key-file or MSSANTE_FHIR_API_KEY): the API refuses the searches, only the other sources answer")
		}
		log.Info("web: directory source", "source", name, "position", i+1)
	}
	switch len(o.srcs) {
	case 0:
		return nil, o, nil
	case 1:
		return o.srcs[0], o, nil
	}
	return annuaire.InOrder(o.srcs...), o, nil
}

// serveWeb builds the web app of serve: with --sandbox against the sandbox world (its autoconfig,
// its test root, its directory), else the production IGC Santé anchors and the operators'
// autoconfig.
func serveWeb(ctx context.Context, c *serveFlags, ready *sandboxReady, trail *audit.Trail,
	sessions func(r *http.Request) (*server.BrowserSession, bool), log *slog.Logger) (*web.App, func(), error) {
	to := trust.Options{Profile: trust.ProfileProduction, AnchorsDir: filepath.Join(*c.dataDir, "trust"),
		CRLCacheDir: filepath.Join(*c.dataDir, "crl"), Logger: log}
	var acURL, patientDomain string
	entities := map[string]string{}
	dataDir := *c.dataDir
	if ready != nil {
		to = trust.Options{Profile: trust.ProfileTest, CRLCacheDir: filepath.Join(*c.dataDir, "sandbox", "web-crl"), Logger: log}
		certs, err := trust.ReadCertificates(ready.World.TrustRoot)
		if err != nil {
			return nil, nil, fmt.Errorf("sandbox trust root: %w", err)
		}
		to.ExtraRoots, acURL = certs, ready.World.AutoconfigURL
		for _, a := range ready.World.Accounts {
			if a.Kind == "organisational" {
				entities[strings.ToLower(a.Address)] = firstNonEmpty(a.Name, a.Address)
			}
		}
		for _, d := range ready.World.Domains {
			if strings.HasPrefix(d, "patient.") {
				patientDomain = d
			}
		}
		dataDir = filepath.Join(*c.dataDir, "sandbox", "web")
		if err := sandboxDirectory(ctx, ready.World.Directory, dataDir); err != nil {
			log.Warn("sandbox directory not indexed: no autocomplete", "err", err)
		}
	}
	if err := os.MkdirAll(to.CRLCacheDir, 0o700); err != nil {
		return nil, nil, err
	}
	pol, err := trust.New(to)
	if err != nil {
		// The login and the token API work without it; the web app then reads the local index
		// only (no sync, no sending) until the anchors are installed.
		log.Warn("web app without operator access: no TLS policy", "err", err)
		pol = nil
	}
	var dir config.Annuaire
	if c.cfg != nil {
		dir = c.cfg.Annuaire
	}
	return webApp(ctx, *c.db, dataDir, acURL, patientDomain, entities, dir, pol, trail, sessions, log)
}

// sandboxDirectory indexes the sandbox's directory extraction into dataDir (the autocomplete
// of the compose screen).
func sandboxDirectory(ctx context.Context, extraction, dataDir string) error {
	if extraction == "" {
		return errors.New("the sandbox gives no directory file")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	f, err := os.Open(extraction)
	if err != nil {
		return err
	}
	defer f.Close()
	dst := filepath.Join(dataDir, annuaire.IndexFile)
	tmp := dst + ".new"
	if _, err := annuaire.BuildIndex(ctx, tmp, f, nil); err != nil {
		return err
	}
	return annuaire.ReplaceIndex(tmp, dst)
}

func webFileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// notCarried returns the attachments of a forwarded original that the composed mail raw does not
// carry under the same name (IHE_XDM.zip counts as carried when raw has one: its documents are
// packaged again).
func notCarried(orig []message.Attachment, raw []byte) []message.Attachment {
	if len(orig) == 0 {
		return nil
	}
	have := map[string]bool{}
	if m, err := message.Parse(raw, nil); err == nil {
		for _, a := range m.Attachments {
			have[strings.ToLower(a.Name)] = true
		}
		if len(m.XDM) > 0 {
			have[strings.ToLower(message.XDMFileName)] = true
		}
	}
	var out []message.Attachment
	for _, a := range orig {
		if !have[strings.ToLower(a.Name)] {
			out = append(out, a)
		}
	}
	return out
}

// firstExt is an extension for a MIME type (".bin" when none is known).
func firstExt(contentType string) string {
	if exts, _ := mime.ExtensionsByType(contentType); len(exts) > 0 {
		return exts[0]
	}
	return ".bin"
}
