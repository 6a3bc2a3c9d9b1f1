package message

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// ReportingUA names this software in the MDNs it sends (RFC 8098 §3.2.1).
const ReportingUA = "mssante; mssante (github.com/mssante/mssante)"

// BuildMDN builds the read receipt (RFC 8098, disposition "displayed") that answers orig, a
// received mail asking for one (ECO.3.1.6), sent from the recipient's mailbox from. It is
// multipart/report: a French human-readable part, the message/disposition-notification part, and
// the original header (text/rfc822-headers). The disposition mode is manual-action/
// MDN-sent-manually: the professional saw the mail and the receipt is sent on their action.
// It returns ErrNoMDNRequested when orig asks for no receipt.
func BuildMDN(orig *Message, from Address, opts *Options) (*Composed, error) {
	if orig == nil || !orig.MDNRequested || len(orig.MDNTo) == 0 {
		return nil, ErrNoMDNRequested
	}
	if _, err := ParseAddress(from.Addr); err != nil {
		return nil, err
	}
	r := opts.rand()
	id, err := newMessageID(r, from)
	if err != nil {
		return nil, err
	}
	bnd, err := randomHex(r, 12)
	if err != nil {
		return nil, err
	}
	c := &Composed{MessageID: id, Headers: map[string]string{HeaderNIL: opts.nil()},
		Subject: "Accusé de lecture : " + orig.DisplaySubject}
	var warnings []string
	if len(orig.MDNTo) > 1 {
		warnings = append(warnings, "plusieurs adresses demandent l'accusé de lecture : seule la première le reçoit")
	}
	c.Warnings = warnings
	top := []field{
		{"Date", opts.now().Format("Mon, 02 Jan 2006 15:04:05 -0700")},
		{"From", from.String()},
		{"To", orig.MDNTo[0].String()},
		{"Subject", encodeText(c.Subject)},
		{"Message-ID", "<" + id + ">"},
	}
	if orig.MessageID != "" {
		top = append(top, field{"In-Reply-To", "<" + orig.MessageID + ">"},
			field{"References", msgIDList(append(append([]string(nil), orig.References...), orig.MessageID))})
	}
	top = append(top, field{"MIME-Version", "1.0"}, field{HeaderNIL, c.Headers[HeaderNIL]},
		field{"Content-Type", `multipart/report; report-type=disposition-notification; boundary="mdn_` + bnd + `"`})
	var buf bytes.Buffer
	if err := writeMDN(&buf, top, orig, from, opts); err != nil {
		return nil, fmt.Errorf("writing the read receipt: %w", err)
	}
	c.Data = buf.Bytes()
	return c, nil
}

func writeMDN(w io.Writer, top []field, orig *Message, from Address, opts *Options) error {
	mw, err := gomessage.CreateWriter(w, header(top))
	if err != nil {
		return err
	}
	date := "(date inconnue)"
	if !orig.Date.IsZero() {
		date = orig.Date.In(opts.now().Location()).Format("02/01/2006 à 15:04")
	}
	human := fmt.Sprintf("Votre message du %s ayant pour objet « %s » a été affiché par %s.\n"+
		"Cet accusé de lecture indique seulement que le message a été affiché ; il ne garantit pas qu'il a été lu ou compris.\n",
		date, orig.DisplaySubject, from.Addr)
	parts := []struct {
		fields []field
		body   string
	}{
		{textFields("plain"), human},
		{[]field{{"Content-Type", "message/disposition-notification"}}, dispositionFields(orig, from)},
		{[]field{{"Content-Type", "text/rfc822-headers"}}, originalHeader(orig)},
	}
	for _, p := range parts {
		pw, err := mw.CreatePart(header(p.fields))
		if err != nil {
			return err
		}
		if err := writeAll(pw, p.body); err != nil {
			return err
		}
	}
	return mw.Close()
}

// dispositionFields is the body of the message/disposition-notification part (RFC 8098 §3.1).
func dispositionFields(orig *Message, from Address) string {
	var b strings.Builder
	b.WriteString("Reporting-UA: " + ReportingUA + "\r\n")
	if or := strings.TrimSpace(orig.raw.Get("Original-Recipient")); or != "" {
		b.WriteString("Original-Recipient: " + or + "\r\n")
	}
	b.WriteString("Final-Recipient: rfc822; " + from.Addr + "\r\n")
	if orig.MessageID != "" {
		b.WriteString("Original-Message-ID: <" + orig.MessageID + ">\r\n")
	}
	b.WriteString("Disposition: manual-action/MDN-sent-manually; displayed\r\n")
	return b.String()
}

// originalHeader returns the header block of the original mail (text/rfc822-headers).
func originalHeader(orig *Message) string {
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, orig.raw.Header.Header); err != nil {
		return ""
	}
	return b.String()
}
