package operator

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-smtp"
)

// envelope is an accepted SMTP transaction.
type envelope struct {
	from   string
	ret    smtp.DSNReturn
	envID  string
	rcpts  []smtpRcpt
	helo   string
	login  string
	remote string
}

// outcome is what happened to one recipient, for the reports.
type outcome struct {
	rcpt   smtpRcpt
	action string // "delivered" or "failed"
	status string // "2.0.0", "5.2.1"
	diag   string
}

// deliver puts the message in each recipient's INBOX (or bounces it for a closed patient
// mailbox), then sends the reports the envelope asks for (RFC 3461 §4.1-4.2) to the sender. It
// returns the queue id.
func (op *Operator) deliver(env *envelope, data []byte) (string, error) {
	id := strings.ToUpper(randomHex(5))
	now := op.opts.Now()
	data = op.addMissingHeaders(data, id, now)
	var outs []outcome
	for _, r := range env.rcpts {
		if r.acct.Kind == KindPatient && op.isClosed(r.addr) {
			outs = append(outs, outcome{rcpt: r, action: "failed", status: "5.2.1",
				diag: "smtp; 550 5.2.1 <" + r.addr + ">: mailbox closed"})
			continue
		}
		if _, known := op.account(r.addr); !known && r.acct.Kind == KindPatient {
			outs = append(outs, outcome{rcpt: r, action: "failed", status: "5.1.1",
				diag: "smtp; 550 5.1.1 <" + r.addr + ">: unknown patient or invalid address"})
			continue
		}
		if err := op.deliverLocal(env, r.addr, id, data, now); err != nil {
			return "", err
		}
		outs = append(outs, outcome{rcpt: r, action: "delivered", status: "2.0.0",
			diag: "smtp; 250 2.0.0 Ok: delivered to mailbox"})
	}
	op.log.Info("message accepted", "id", id, "from", env.from, "rcpts", len(env.rcpts))
	if env.from == "" {
		return id, nil // never report on a report (RFC 3461 §6.2)
	}
	return id, op.sendReports(env, outs, data, now)
}

func (op *Operator) isClosed(addr string) bool {
	a, ok := op.account(addr)
	return ok && a.Closed
}

// deliverLocal stores data in rcpt's INBOX with the trace fields a delivering MTA adds.
func (op *Operator) deliverLocal(env *envelope, rcpt, id string, data []byte, now time.Time) error {
	u, err := op.store.ensureUser(rcpt)
	if err != nil {
		return err
	}
	mb, err := u.mailbox("INBOX")
	if err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Return-Path: <%s>\r\n", env.from)
	fmt.Fprintf(&b, "Delivered-To: %s\r\n", rcpt)
	if env.helo != "" {
		// RFC 5321 §4.4, ESMTPSA: ESMTP with TLS and authentication (RFC 3848).
		fmt.Fprintf(&b, "Received: from %s (%s)\r\n\tby %s (mssante sandbox) with ESMTPSA id %s\r\n\tfor <%s>; %s\r\n",
			env.helo, env.remote, op.opts.Hostname, id, rcpt, now.Format(time.RFC1123Z))
	}
	b.Write(data)
	_, err = mb.appendMessage(b.Bytes(), nil, now)
	return err
}

// sendReports sends a "delivered" report when SUCCESS was asked, a failure report unless NEVER
// was asked (FAILURE is the default, RFC 3461 §4.1), and Mon espace santé's "Message non
// distribué" form for a closed patient mailbox.
func (op *Operator) sendReports(env *envelope, outs []outcome, data []byte, now time.Time) error {
	var success, failed []outcome
	for _, o := range outs {
		n := o.rcpt.notify
		switch {
		case o.action == "delivered" && slices.Contains(n, smtp.DSNNotifySuccess):
			success = append(success, o)
		case o.action == "failed" && !slices.Contains(n, smtp.DSNNotifyNever) &&
			(len(n) == 0 || slices.Contains(n, smtp.DSNNotifyFailure)):
			failed = append(failed, o)
		}
	}
	if len(success) > 0 {
		r := op.buildReport(env, success, data, now, successReport)
		if err := op.deliverReport(env.from, r, now); err != nil {
			return err
		}
	}
	for _, o := range failed {
		r := op.buildReport(env, []outcome{o}, data, now, mesBounce)
		if err := op.deliverReport(env.from, r, now); err != nil {
			return err
		}
	}
	return nil
}

func (op *Operator) deliverReport(to string, report []byte, now time.Time) error {
	if _, ok := op.account(to); !ok {
		return nil // a sender outside the sandbox: nowhere to return it
	}
	return op.deliverLocal(&envelope{}, strings.ToLower(to), "", report, now)
}

type reportKind int

const (
	successReport reportKind = iota
	mesBounce
)

// buildReport writes a multipart/report (RFC 6522) with a message/delivery-status part
// (RFC 3464): the human part, the per-recipient fields, then the original header or message as
// RET asked (HDRS by default). The header fields are ASCII (non-ASCII words RFC 2047-encoded)
// and so are the delivery-status fields (RFC 3464 §2.1.1: US-ASCII, the Diagnostic-Code is the
// SMTP reply); the French text lives in the human part only, declared utf-8.
func (op *Operator) buildReport(env *envelope, outs []outcome, data []byte, now time.Time, kind reportKind) []byte {
	boundary := "=_report_" + randomHex(12)
	var b bytes.Buffer
	from, subject, human := op.reportText(env, outs, kind)
	fmt.Fprintf(&b, "From: %s\r\n", from.String()) // net/mail encodes a non-ASCII name (RFC 2047)
	fmt.Fprintf(&b, "To: <%s>\r\n", env.from)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", randomHex(12), op.opts.Hostname)
	if id := originalMessageID(data); id != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\r\nReferences: <%s>\r\n", id, id)
	}
	b.WriteString("Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n", boundary)
	b.WriteString("This is a MIME-encapsulated message.\r\n\r\n")
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary)
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(human, "\n", "\r\n")))
	_ = qp.Close()
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: message/delivery-status\r\n\r\n", boundary)
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\r\n", op.opts.Hostname)
	if env.envID != "" {
		fmt.Fprintf(&b, "Original-Envelope-Id: %s\r\n", env.envID)
	}
	fmt.Fprintf(&b, "Arrival-Date: %s\r\n", now.Format(time.RFC1123Z))
	for _, o := range outs {
		b.WriteString("\r\n")
		fmt.Fprintf(&b, "Final-Recipient: rfc822; %s\r\n", o.rcpt.addr)
		if o.rcpt.orcpt != "" {
			fmt.Fprintf(&b, "Original-Recipient: rfc822; %s\r\n", o.rcpt.orcpt)
		}
		fmt.Fprintf(&b, "Action: %s\r\nStatus: %s\r\nDiagnostic-Code: %s\r\n", o.action, o.status, asciiOnly(o.diag))
	}
	if env.ret == smtp.DSNReturnFull {
		fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: message/rfc822\r\n\r\n", boundary)
		b.Write(data)
	} else {
		fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary)
		b.Write(headerOf(data))
	}
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return b.Bytes()
}

// reportText returns the From, Subject and human-readable part of a report, each in one
// language: the success report is Postfix's (English), the failure for a patient mailbox is Mon
// espace santé's form (French).
func (op *Operator) reportText(env *envelope, outs []outcome, kind reportKind) (from mail.Address, subject, human string) {
	var rcpts []string
	for _, o := range outs {
		rcpts = append(rcpts, "<"+o.rcpt.addr+">")
	}
	if kind == successReport {
		return mail.Address{Name: "Mail Delivery System", Address: "MAILER-DAEMON@" + op.opts.Hostname},
			"Successful Mail Delivery Report",
			// Postfix's text, in its one language (the operator's, not ours).
			fmt.Sprintf("This is the mail system at host %s.\n\n"+
				"Your message was successfully delivered to the destination(s)\n"+
				"listed below. If the message was delivered to mailbox you will\n"+
				"receive no further notifications. Otherwise you may still receive\n"+
				"notifications of mail delivery errors from other systems.\n\n"+
				"                   The mail system\n\n%s\n",
				op.opts.Hostname, strings.Join(rcpts, "\n"))
	}
	return mail.Address{Name: "Mon espace santé", Address: "ne-pas-repondre@" + op.opts.PatientDomain},
		"Message non distribué",
		fmt.Sprintf("Message non distribué\n\n"+
			"Votre message n'a pas pu être distribué au destinataire suivant :\n\n%s\n\n"+
			"Raison : %s\n"+
			"Le message n'a pas été transmis au patient. Ne renvoyez pas ce message à cette adresse ;\n"+
			"contactez le patient par un autre moyen.\n", strings.Join(rcpts, "\n"), mesReason(outs))
}

// addMissingHeaders adds the Date and Message-ID fields a submitted message lacks, as Postfix's
// cleanup does for local and authenticated clients (RFC 6409 §8.2-8.3): the recipients' copies and
// the reports then carry them. A header that does not parse is left alone.
func (op *Operator) addMissingHeaders(data []byte, id string, now time.Time) []byte {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(headerOf(data))))
	if err != nil {
		return data
	}
	var add bytes.Buffer
	if !h.Has("Date") {
		fmt.Fprintf(&add, "Date: %s\r\n", now.Format(time.RFC1123Z))
	}
	if !h.Has("Message-Id") {
		fmt.Fprintf(&add, "Message-ID: <%s.%s@%s>\r\n", now.UTC().Format("20060102150405"), id, op.opts.Hostname)
	}
	if add.Len() == 0 {
		return data
	}
	return append(add.Bytes(), data...)
}

// mesReason is the reason line of Mon espace santé's form for the (single) failed recipient.
func mesReason(outs []outcome) string {
	if len(outs) > 0 && outs[0].status == "5.1.1" {
		return "aucune boîte aux lettres Mon espace santé ne correspond à cette adresse (patient inconnu ou adresse invalide)."
	}
	return "la boîte aux lettres Mon espace santé de ce patient est fermée."
}

// headerOf returns the header block of a message, blank line included.
func headerOf(data []byte) []byte {
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		return data[:i+4]
	}
	if i := bytes.Index(data, []byte("\n\n")); i >= 0 {
		return data[:i+2]
	}
	return data
}

func originalMessageID(data []byte) string {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(headerOf(data))))
	if err != nil {
		return ""
	}
	id := strings.TrimSpace(h.Get("Message-Id"))
	id = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	if strings.ContainsAny(id, "<>\r\n ") {
		return ""
	}
	return id
}

// asciiOnly replaces every non-ASCII or control byte with '?' (a delivery-status field is
// US-ASCII, RFC 3464 §2.1.1).
func asciiOnly(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 0x7f || c < 0x20 && c != '\t' {
			b[i] = '?'
		}
	}
	return string(b)
}

func mailDate(s string) (time.Time, error) { return mail.ParseDate(s) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Deliver delivers data from from to rcpts as the SMTP service would after DATA (trace fields,
// closed-mailbox bounces, no DSN unless notify lists SUCCESS): for seeding a sandbox. Unknown
// recipients are an error.
func (op *Operator) Deliver(from string, rcpts []string, data []byte, notify ...string) error {
	env := &envelope{from: from, helo: "seed", login: from, remote: "local"}
	for _, to := range rcpts {
		a, ok := op.account(to)
		if !ok {
			return fmt.Errorf("operator: deliver: unknown recipient %q", to)
		}
		r := smtpRcpt{addr: a.Address, acct: a}
		for _, n := range notify {
			r.notify = append(r.notify, smtp.DSNNotify(strings.ToUpper(n)))
		}
		env.rcpts = append(env.rcpts, r)
	}
	_, err := op.deliver(env, data)
	return err
}

// Append stores data in a folder of address as is (no trace fields), with flags such as \Seen.
func (op *Operator) Append(address, folder string, data []byte, flags ...string) (uint32, error) {
	u := op.store.user(address)
	if u == nil {
		return 0, fmt.Errorf("operator: append: unknown mailbox %q", address)
	}
	mb, err := u.mailbox(folder)
	if err != nil {
		return 0, fmt.Errorf("operator: append to %s %s: %w", address, folder, err)
	}
	fl := make([]imap.Flag, len(flags))
	for i, f := range flags {
		fl[i] = imap.Flag(f)
	}
	d, err := mb.appendMessage(data, fl, op.opts.Now())
	if err != nil {
		return 0, err
	}
	return uint32(d.UID), nil
}

// StoredMessage is a message of a folder, as Messages returns it.
type StoredMessage struct {
	UID   uint32
	Flags []string
	Date  time.Time
	Data  []byte
}

// Messages returns the messages of a folder of address, in UID order (tests and the world's
// status pages; a patient mailbox has no IMAP access here).
func (op *Operator) Messages(address, folder string) ([]StoredMessage, error) {
	u := op.store.user(address)
	if u == nil {
		return nil, fmt.Errorf("operator: unknown mailbox %q", address)
	}
	mb, err := u.mailbox(folder)
	if err != nil {
		return nil, fmt.Errorf("operator: %s %s: %w", address, folder, err)
	}
	mb.mu.Lock()
	metas := make([]msgMeta, len(mb.msgs))
	for i, m := range mb.msgs {
		metas[i] = *m
	}
	mb.mu.Unlock()
	out := make([]StoredMessage, 0, len(metas))
	for _, m := range metas {
		data, err := mb.read(m.UID)
		if err != nil {
			return nil, err
		}
		out = append(out, StoredMessage{UID: uint32(m.UID), Flags: append([]string{}, m.Flags...), Date: m.Date, Data: data})
	}
	return out, nil
}
