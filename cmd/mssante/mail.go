package main

import (
	"context"
	"errors"
	"flag"
	"time"

	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/message"
)

// Mail commands read the local index that `mssante sync` fills (internal/mailstore), offline.

// mailDB opens the mail index of the main database (--db, MSSANTE_DB, or the data directory's
// SQLite file). The offline commands refuse a database sync never wrote to.
type mailDB struct{ *stateFlags }

func declareMailDB(fs *flag.FlagSet, keys ...string) *mailDB {
	return &mailDB{stateFlagsOf(fs, keys...)}
}

func (f *mailDB) open(ctx context.Context) (*mailstore.Store, func(), error) {
	db, err := openExisting(ctx, f.url(), mailstore.Package, "mail index (run mssante sync first)", mailstore.Migrations()...)
	if err != nil {
		return nil, nil, err
	}
	return mailstore.New(db, nil), func() { _ = db.Close() }, nil
}

// mailLine is one message of `mail list` and `mail search`, with exactly the fields of issue 9.
type mailLine struct {
	UID            uint32        `json:"uid"`
	Folder         string        `json:"folder"`
	MessageID      string        `json:"message_id"`
	Date           time.Time     `json:"date"`
	From           string        `json:"from"`
	SenderKind     string        `json:"sender_kind"`
	Patient        *mailPatient  `json:"patient"`
	DisplaySubject string        `json:"display_subject"`
	Documents      []mailDocLine `json:"documents"`
	ThreadID       string        `json:"thread_id"`
	Flags          []string      `json:"flags"`
	Size           int64         `json:"size"`
}

type mailPatient struct {
	BirthName  string `json:"birth_name"`
	GivenNames string `json:"given_names"`
	INS        string `json:"ins"`
}

type mailDocLine struct {
	TypeCode  string `json:"type_code"`
	TypeLabel string `json:"type_label"`
	PatientID string `json:"patient_id"`
}

func lineOf(m mailstore.Message) mailLine {
	l := mailLine{UID: m.UID, Folder: m.Folder, MessageID: m.MessageID, Date: m.Date, From: m.From,
		SenderKind: string(m.SenderKind), DisplaySubject: m.DisplaySubject, ThreadID: m.ThreadID,
		Flags: m.Flags, Size: m.Size, Documents: []mailDocLine{}}
	if m.FromName != "" {
		l.From = message.Address{Name: m.FromName, Addr: m.From}.String()
	}
	if p := m.Patient; p != nil {
		l.Patient = &mailPatient{BirthName: p.BirthName, GivenNames: p.GivenNames, INS: p.INS}
	}
	for _, d := range m.Documents {
		l.Documents = append(l.Documents, mailDocLine{TypeCode: d.TypeCode, TypeLabel: d.TypeLabel, PatientID: d.PatientID})
	}
	return l
}

func init() {
	register(&command{
		name:    "mail list",
		summary: "list the synchronised messages from the local store (offline), as JSON lines",
		usage:   "mail list --account ADDR… [--folder F]… [--sort date|sender|subject|patient] [--reverse] [--thread] [--unseen] [--limit N] [--offset N] [--db URL] [--data-dir DIR]",
		example: "mssante mail list --account dr.martin@test.mssante.fr --sort patient --limit 20",
		flags: func(fs *flag.FlagSet) runFunc {
			var accounts, folders stringList
			fs.Var(&accounts, "account", "mailbox `address` (repeatable: several mailboxes at once)")
			fs.Var(&folders, "folder", "`folder` to list (repeatable; default all)")
			sort := fs.String("sort", "date", "`order`: date (newest first), sender, subject or patient")
			reverse := fs.Bool("reverse", false, "reverse the order")
			thread := fs.Bool("thread", false, "group conversations: --limit and --offset then count threads")
			unseen := fs.Bool("unseen", false, "only messages not yet seen")
			limit := fs.Int("limit", 50, "at most `N` messages")
			offset := fs.Int("offset", 0, "skip `N` messages")
			dbf := declareMailDB(fs)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				if len(accounts) == 0 {
					return usagef("--account is required")
				}
				so, err := mailstore.ParseSort(*sort)
				if err != nil {
					return usagef("--sort: %v", err)
				}
				if *limit <= 0 || *offset < 0 {
					return usagef("--limit must be positive and --offset not negative")
				}
				ms, done, err := dbf.open(ctx)
				if err != nil {
					return err
				}
				defer done()
				page, err := ms.List(ctx, mailstore.Query{Accounts: accounts, Folders: folders, Sort: so,
					Reverse: *reverse, Thread: *thread, Unseen: *unseen, Limit: *limit, Offset: *offset})
				if err != nil {
					return err
				}
				for _, m := range page.Messages {
					if err := writeJSONLine(env.stdout, lineOf(m)); err != nil {
						return err
					}
				}
				return nil
			}
		},
	})
	register(&command{
		name:    "mail show",
		summary: "show one synchronised message from the local store (offline), as JSON",
		usage:   "mail show --account ADDR (--uid N [--folder F] | --message-id ID) [--db URL] [--data-dir DIR]",
		example: "mssante mail show --account dr.martin@test.mssante.fr --uid 42 --folder INBOX",
		flags: func(fs *flag.FlagSet) runFunc {
			dbf := declareMailDB(fs, "mail.account")
			uid := fs.Uint("uid", 0, "`UID` of the message in --folder")
			folder := fs.String("folder", "INBOX", "`folder` of --uid")
			msgID := fs.String("message-id", "", "Message-ID of the message (with or without <>)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				acct := dbf.cfg.MailAccount()
				account := &acct.Address
				if *account == "" || (*uid == 0) == (*msgID == "") {
					return usagef("--account and one of --uid or --message-id are required")
				}
				ms, done, err := dbf.open(ctx)
				if err != nil {
					return err
				}
				defer done()
				var m mailstore.Message
				if *msgID != "" {
					m, err = ms.ByMessageID(ctx, *account, *msgID)
				} else {
					m, err = ms.Get(ctx, *account, *folder, uint32(*uid))
				}
				if err != nil {
					return err
				}
				return writeJSON(env.stdout, showOf(ctx, ms, m))
			}
		},
	})
	register(&command{
		name:    "mail search",
		summary: "full-text search of the synchronised messages (offline), as JSON lines, best first",
		usage:   "mail search QUERY --account ADDR… [--limit N] [--db URL] [--data-dir DIR]",
		example: "mssante mail search \"compte rendu biologie\" --account dr.martin@test.mssante.fr",
		flags: func(fs *flag.FlagSet) runFunc {
			var accounts stringList
			fs.Var(&accounts, "account", "mailbox `address` (repeatable)")
			limit := fs.Int("limit", 50, "at most `N` messages")
			dbf := declareMailDB(fs)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 1 {
					return usagef("one QUERY expected")
				}
				if len(accounts) == 0 {
					return usagef("--account is required")
				}
				ms, done, err := dbf.open(ctx)
				if err != nil {
					return err
				}
				defer done()
				found, err := ms.Search(ctx, args[0], *limit, accounts...)
				if err != nil {
					return err
				}
				for _, m := range found {
					if err := writeJSONLine(env.stdout, lineOf(m)); err != nil {
						return err
					}
				}
				return nil
			}
		},
	})
	register(&command{
		name:    "mail folders",
		summary: "the synchronised folders with their message and unread counts (offline), as JSON lines",
		usage:   "mail folders --account ADDR… [--db URL] [--data-dir DIR]",
		example: "mssante mail folders --account dr.martin@test.mssante.fr",
		flags: func(fs *flag.FlagSet) runFunc {
			var accounts stringList
			fs.Var(&accounts, "account", "mailbox `address` (repeatable)")
			dbf := declareMailDB(fs)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 || len(accounts) == 0 {
					return usagef("--account expected, no argument")
				}
				ms, done, err := dbf.open(ctx)
				if err != nil {
					return err
				}
				defer done()
				folders, err := ms.Folders(ctx, accounts...)
				if err != nil {
					return err
				}
				for _, f := range folders {
					if err := writeJSONLine(env.stdout, f); err != nil {
						return err
					}
				}
				return nil
			}
		},
	})
}

// mailShow is `mail show`: the list fields, then what the message viewer needs.
type mailShow struct {
	mailLine
	Subject      string                     `json:"subject"`
	To           []message.Address          `json:"to"`
	Cc           []message.Address          `json:"cc,omitempty"`
	Text         string                     `json:"text"`
	HTML         string                     `json:"html,omitempty"`
	Attachments  []mailAttachment           `json:"attachments"`
	MDNRequested bool                       `json:"mdn_requested"`
	Reports      []message.Report           `json:"reports"`
	Documents    []mailstore.Document       `json:"documents"`
	Warnings     []string                   `json:"warnings"`
	ReportsAbout []mailstore.ReceivedReport `json:"reports_about,omitempty"`
	HasBody      bool                       `json:"has_body"`
}

type mailAttachment struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int    `json:"size"`
}

func showOf(ctx context.Context, ms *mailstore.Store, m mailstore.Message) mailShow {
	s := mailShow{mailLine: lineOf(m), Subject: m.Subject, Documents: m.Documents, HasBody: m.HasBody,
		Attachments: []mailAttachment{}, Reports: []message.Report{}, Warnings: []string{}}
	raw, err := ms.Body(ctx, m)
	switch {
	case errors.Is(err, mailstore.ErrNotFound):
		s.Warnings = append(s.Warnings, "message trop volumineux : seul l'en-tête est conservé localement")
	case err != nil:
		s.Warnings = append(s.Warnings, err.Error())
	default:
		if p, err := message.Parse(raw, nil); err == nil {
			s.To, s.Cc, s.Text, s.HTML, s.MDNRequested, s.Reports, s.Warnings = p.To, p.Cc, p.Text, p.HTML, p.MDNRequested, p.Reports, p.Warnings
			for _, a := range p.Attachments {
				s.Attachments = append(s.Attachments, mailAttachment{Name: a.Name, ContentType: a.ContentType, Size: a.Size})
			}
		} else {
			s.Warnings = append(s.Warnings, err.Error())
		}
	}
	if m.MessageID != "" {
		s.ReportsAbout, _ = ms.ReportsFor(ctx, m.MessageID)
	}
	return s
}
