package mailbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/mssante/mssante/internal/patients"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/message"
)

// session returns the account's IMAP session with mailbox selected, dialling it when needed.
// The caller holds a.mu.
func (a *Account) session(ctx context.Context, mailbox string) (*lps.IMAPClient, error) {
	if a.imap == nil {
		ep, auth, err := a.endpoint(ctx, "imap")
		if err != nil {
			return nil, err
		}
		opts, err := a.lpsOptions(ep, nil)
		if err != nil {
			return nil, err
		}
		ic, err := lps.DialIMAP(ctx, ep, auth, opts)
		if err != nil {
			return nil, a.connectError(ep, err)
		}
		a.imap, a.imapEP, a.selected = ic, ep, ""
	}
	if mailbox != "" && mailbox != a.selected {
		if _, err := a.imap.Select(ctx, mailbox); err != nil {
			return nil, err
		}
		a.selected = mailbox
	}
	return a.imap, nil
}

// withIMAP runs f on the session with mailbox selected.
func (a *Account) withIMAP(ctx context.Context, mailbox string, f func(*lps.IMAPClient) error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ic, err := a.session(ctx, mailbox)
	if err != nil {
		return err
	}
	return f(ic)
}

// Summary is one message of a mailbox list, the message rules applied (ECO.3.1.1–3.1.3).
type Summary struct {
	UID  uint32 `json:"uid"`
	From string `json:"from"`
	// Subject is as sent; DisplaySubject without the XDM/1.0/DDM+ prefix (ECO.3.1.3).
	Subject        string `json:"subject"`
	DisplaySubject string `json:"display_subject"`
	// SenderKind tells a patient from a professional (ECO.3.1.1); Patient is the patient's
	// identity read from the address and its label (ECO.3.1.2), nil for a professional.
	SenderKind message.SenderKind     `json:"sender_kind"`
	Patient    *message.PatientSender `json:"patient,omitempty"`
	// Date is the Date field, or the arrival date (INTERNALDATE) when the message has none;
	// DateFromArrival says which.
	Date            time.Time `json:"date"`
	DateFromArrival bool      `json:"date_from_arrival,omitempty"`
	Flags           []string  `json:"flags"`
	Size            int64     `json:"size"`
	MessageID       string    `json:"message_id,omitempty"`
}

// Listing is the result of List.
type Listing struct {
	Mailbox string `json:"mailbox"`
	// Total is the number of messages in the mailbox; Messages holds at most Limit of them.
	Total     int       `json:"total"`
	Truncated bool      `json:"truncated"`
	Messages  []Summary `json:"messages"`
}

// ListOptions select what List returns; nil means every message.
type ListOptions struct {
	// Limit keeps the Limit most recent messages (highest UIDs); 0 means all.
	Limit int
	// Criteria filter the messages (zero: all).
	Criteria lps.Criteria
}

// List returns the messages of mailbox, newest (highest UID) first.
func (a *Account) List(ctx context.Context, mailbox string, o *ListOptions) (*Listing, error) {
	if o == nil {
		o = &ListOptions{}
	}
	res := &Listing{Mailbox: mailbox, Messages: []Summary{}}
	err := a.withIMAP(ctx, mailbox, func(ic *lps.IMAPClient) error {
		uids, err := ic.Search(ctx, o.Criteria)
		if err != nil {
			return err
		}
		res.Total = len(uids)
		slices.Reverse(uids)
		if o.Limit > 0 && len(uids) > o.Limit {
			uids, res.Truncated = uids[:o.Limit], true
		}
		if len(uids) == 0 {
			return nil
		}
		sums, err := ic.Summaries(ctx, uids)
		if err != nil {
			return err
		}
		slices.SortFunc(sums, func(x, y lps.Summary) int { return int(int64(y.UID) - int64(x.UID)) })
		for _, s := range sums {
			res.Messages = append(res.Messages, a.summary(s))
		}
		return nil
	})
	return res, err
}

// summary applies the message rules to an envelope.
func (a *Account) summary(s lps.Summary) Summary {
	out := Summary{UID: s.UID, From: strings.Join(s.From, ", "), Subject: s.Subject,
		DisplaySubject: message.DisplaySubject(s.Subject), Date: s.Date, Flags: s.Flags, Size: s.Size,
		MessageID: s.MessageID}
	if out.Date.IsZero() && !s.InternalDate.IsZero() {
		out.Date, out.DateFromArrival = s.InternalDate, true
	}
	if len(s.From) > 0 {
		if from, err := message.ParseAddress(s.From[0]); err == nil {
			out.SenderKind, out.Patient = message.Sender(from, a.o.PatientDomain)
		}
	}
	return out
}

// Fetch streams message uid of mailbox to w as received (not marked as read) and returns the
// number of bytes written.
func (a *Account) Fetch(ctx context.Context, mailbox string, uid uint32, w io.Writer) (int64, error) {
	var n int64
	err := a.withIMAP(ctx, mailbox, func(ic *lps.IMAPClient) error {
		var err error
		n, err = ic.FetchBody(ctx, uid, w)
		return err
	})
	return n, err
}

// Mail is a received message read for the professional: the message rules applied (body, XDM,
// documents, sender kind, display subject, reports) and the patient matched.
type Mail struct {
	UID uint32 `json:"uid"`
	*message.Message
	// Patients are the known patients whose INS is the mail's patient (the documents' patientId,
	// else the Mon espace santé sender); empty when none is known.
	Patients []patients.Patient `json:"known_patients,omitempty"`
	// PatientINS is the matricule the match was made on, empty when the mail names no patient.
	PatientINS string `json:"patient_ins,omitempty"`
}

// Read fetches message uid of mailbox (not marked as read) and parses it.
func (a *Account) Read(ctx context.Context, mailbox string, uid uint32) (*Mail, error) {
	var buf bytes.Buffer
	if _, err := a.Fetch(ctx, mailbox, uid, &buf); err != nil {
		return nil, err
	}
	m, err := message.Parse(buf.Bytes(), &message.ReadOptions{PatientDomain: a.o.PatientDomain})
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", uid, err)
	}
	mail := &Mail{UID: uid, Message: m, PatientINS: mailPatientINS(m)}
	if mail.PatientINS != "" && a.o.Patients != nil {
		if mail.Patients, err = a.o.Patients.ByMatricule(ctx, mail.PatientINS); err != nil {
			return mail, fmt.Errorf("known patients: %w", err)
		}
	}
	return mail, nil
}

// mailPatientINS is the patient a mail concerns: the INS of its documents (ECO.2.1.2), else the
// patient who wrote it (ECO.3.1.2).
func mailPatientINS(m *message.Message) string {
	for _, d := range m.Documents {
		if d.INS != "" {
			return d.INS
		}
	}
	if m.Patient != nil && m.Patient.KeyValid {
		return m.Patient.INS
	}
	return ""
}

// Move moves messages of mailbox to dest.
func (a *Account) Move(ctx context.Context, mailbox string, uids []uint32, dest string) error {
	return a.withIMAP(ctx, mailbox, func(ic *lps.IMAPClient) error { return ic.Move(ctx, uids, dest) })
}

// Flag changes the flags of messages of mailbox.
func (a *Account) Flag(ctx context.Context, mailbox string, uids []uint32, op lps.FlagOp, flags ...string) error {
	return a.withIMAP(ctx, mailbox, func(ic *lps.IMAPClient) error { return ic.SetFlags(ctx, uids, op, flags...) })
}

// Delete deletes messages of mailbox (\Deleted and UID EXPUNGE of these messages only).
func (a *Account) Delete(ctx context.Context, mailbox string, uids []uint32) error {
	return a.withIMAP(ctx, mailbox, func(ic *lps.IMAPClient) error { return ic.Delete(ctx, uids) })
}

// Mailboxes lists the account's folders.
func (a *Account) Mailboxes(ctx context.Context) ([]lps.Mailbox, error) {
	var out []lps.Mailbox
	err := a.withIMAP(ctx, "", func(ic *lps.IMAPClient) error {
		var err error
		out, err = ic.Mailboxes(ctx)
		return err
	})
	return out, err
}

// DialIMAP opens an IMAP session of the caller's own, with the account's servers, credentials,
// TLS policy and audit trail (internal/mailstore synchronises folders over it). The caller closes
// it; the account's own session is not affected.
func (a *Account) DialIMAP(ctx context.Context) (*lps.IMAPClient, error) {
	ep, auth, err := a.endpoint(ctx, "imap")
	if err != nil {
		return nil, err
	}
	opts, err := a.lpsOptions(ep, nil)
	if err != nil {
		return nil, err
	}
	ic, err := lps.DialIMAP(ctx, ep, auth, opts)
	if err != nil {
		return nil, a.connectError(ep, err)
	}
	return ic, nil
}
