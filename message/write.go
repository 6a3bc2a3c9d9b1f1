package message

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"strings"

	gomessage "github.com/emersion/go-message"
)

// field is one header field in the order it is written.
type field struct{ key, value string }

// write encodes the mail into c.Data: the header fields in a fixed order, then the body
// (text/plain or multipart/alternative, ECO.2.2.3 and ECO.2.2.4), inside multipart/mixed when there
// are attachments.
func (c *Composed) write(d *Draft, atts []attachment, opts *Options) error {
	r := opts.rand()
	id, err := newMessageID(r, d.From)
	if err != nil {
		return err
	}
	c.MessageID = id
	body, err := newBody(d, r)
	if err != nil {
		return err
	}
	fields := c.headerFields(d, id, opts)
	var buf bytes.Buffer
	if len(atts) == 0 {
		err = body.writeAsRoot(&buf, fields)
	} else {
		err = writeMixed(&buf, fields, body, atts, r)
	}
	if err != nil {
		return fmt.Errorf("writing the mail: %w", err)
	}
	c.Data = buf.Bytes()
	return nil
}

func (c *Composed) headerFields(d *Draft, id string, opts *Options) []field {
	fs := []field{
		{"Date", opts.now().Format("Mon, 02 Jan 2006 15:04:05 -0700")},
		{"From", d.From.String()},
	}
	if list := addressList(d.To); list != "" {
		fs = append(fs, field{"To", list})
	}
	if list := addressList(d.Cc); list != "" {
		fs = append(fs, field{"Cc", list})
	}
	if d.AppContact != nil {
		fs = append(fs, field{"Reply-To", d.AppContact.String()}) // ECO.2.2.5
	}
	fs = append(fs, field{"Subject", encodeText(c.Subject)}, field{"Message-ID", "<" + id + ">"})
	if p := d.Parent; p != nil && p.MessageID != "" { // ECO.2.2.2
		fs = append(fs, field{"In-Reply-To", "<" + p.MessageID + ">"},
			field{"References", msgIDList(append(append([]string(nil), p.References...), p.MessageID))})
	}
	fs = append(fs, field{"MIME-Version", "1.0"}, field{HeaderNIL, c.Headers[HeaderNIL]})
	for _, k := range []string{HeaderCodeCDA, HeaderINS, HeaderMES} {
		if v, ok := c.Headers[k]; ok {
			fs = append(fs, field{k, v})
		}
	}
	if d.DSN { // ECO.2.3.1
		fs = append(fs, field{"Return-Receipt-To", "<" + d.From.Addr + ">"})
	}
	if d.MDN { // ECO.2.3.2, RFC 8098 §2.1
		fs = append(fs, field{"Disposition-Notification-To", d.From.String()})
	}
	return fs
}

func addressList(as []Address) string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return strings.Join(out, ", ")
}

func msgIDList(ids []string) string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id = strings.Trim(strings.TrimSpace(id), "<>"); id != "" {
			out = append(out, "<"+id+">")
		}
	}
	return strings.Join(out, " ")
}

// encodeText encodes an unstructured header value (RFC 2047): ASCII words stay as written, so that
// "XDM/1.0/DDM+" remains visible to receivers matching the raw subject; each run of words holding
// non-ASCII or control characters (or looking like an encoded word) becomes Q-encoded UTF-8 words,
// the spaces inside the run encoded with it.
func encodeText(s string) string {
	words := strings.Split(s, " ")
	out := make([]string, 0, len(words))
	for i := 0; i < len(words); {
		if !needsEncoding(words[i]) {
			out = append(out, words[i])
			i++
			continue
		}
		j := i + 1
		for j < len(words) && needsEncoding(words[j]) {
			j++
		}
		out = append(out, encodeWords(strings.Join(words[i:j], " ")))
		i = j
	}
	return strings.Join(out, " ")
}

// encodeWords Q-encodes run; an ASCII run that only looks like an encoded word (which the mime
// package would leave as is) is B-encoded in chunks.
func encodeWords(run string) string {
	if enc := mime.QEncoding.Encode("utf-8", run); enc != run {
		return enc
	}
	var parts []string
	for len(run) > 0 {
		n := min(len(run), 45)
		parts = append(parts, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(run[:n]))+"?=")
		run = run[n:]
	}
	return strings.Join(parts, " ")
}

func needsEncoding(word string) bool {
	if strings.Contains(word, "=?") {
		return true
	}
	for i := 0; i < len(word); i++ {
		if word[i] >= 0x7f || word[i] < 0x20 {
			return true
		}
	}
	return false
}

// header builds a go-message header that writes fields in order, with their names as given (the
// referential spells X-MSS-CODECDA, which canonical MIME keys would turn into X-Mss-Codecda).
func header(fields []field) gomessage.Header {
	var h gomessage.Header
	for i := len(fields) - 1; i >= 0; i-- { // go-message writes the last added field first
		h.AddRaw([]byte(fold(fields[i].key, fields[i].value)))
	}
	return h
}

// fold formats "Key: value\r\n", folding at spaces so that lines stay under 78 characters when
// the value allows it (RFC 5322 §2.2.3).
func fold(key, value string) string {
	var b strings.Builder
	line := key + ":"
	for _, word := range strings.Split(value, " ") {
		if word != "" && len(line)+1+len(word) > 76 && len(line) > len(key)+1 {
			b.WriteString(line + "\r\n")
			line = ""
		}
		line += " " + word
	}
	b.WriteString(line + "\r\n")
	return b.String()
}

// body is the text of the mail: plain, and optionally HTML.
type body struct {
	text, html string
	boundary   string // of multipart/alternative, when html is set
}

const appNotice = "Ce message a été généré automatiquement par une messagerie applicative. " +
	"Pour contacter l'émetteur, écrivez à la messagerie sécurisée de santé %s."

func newBody(d *Draft, r io.Reader) (*body, error) {
	b := &body{text: normalizeText(d.Text), html: normalizeText(d.HTML)}
	if d.AppContact != nil { // ECO.2.2.5: the closing notice
		notice := fmt.Sprintf(appNotice, d.AppContact.Addr)
		b.text = strings.TrimRight(b.text, "\n")
		if b.text != "" {
			b.text += "\n\n-- \n"
		}
		b.text += notice + "\n"
		if b.html != "" {
			b.html = appendHTML(b.html, "<p>"+htmlEscape(notice)+"</p>")
		}
	}
	if b.html != "" {
		h, err := randomHex(r, 12)
		if err != nil {
			return nil, err
		}
		b.boundary = "alt_" + h
	}
	return b, nil
}

// appendHTML inserts fragment before </body> when there is one, else at the end.
func appendHTML(html, fragment string) string {
	if i := strings.LastIndex(strings.ToLower(html), "</body>"); i >= 0 {
		return html[:i] + fragment + "\n" + html[i:]
	}
	return strings.TrimRight(html, "\n") + "\n" + fragment + "\n"
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

func textFields(subtype string) []field {
	return []field{{"Content-Type", "text/" + subtype + "; charset=utf-8"}, {"Content-Transfer-Encoding", "quoted-printable"}}
}

// fields are the Content-* fields of the body entity.
func (b *body) fields() []field {
	if b.html == "" {
		return textFields("plain")
	}
	return []field{{"Content-Type", `multipart/alternative; boundary="` + b.boundary + `"`}}
}

// writeAsRoot writes the body as the whole mail, top fields first.
func (b *body) writeAsRoot(w io.Writer, top []field) error {
	mw, err := gomessage.CreateWriter(w, header(append(top, b.fields()...)))
	if err != nil {
		return err
	}
	return b.writeContent(mw)
}

// writeAsPart writes the body as the first part of multipart/mixed.
func (b *body) writeAsPart(parent *gomessage.Writer) error {
	pw, err := parent.CreatePart(header(b.fields()))
	if err != nil {
		return err
	}
	return b.writeContent(pw)
}

// writeContent writes the text (or both alternatives) into w, an entity whose header is b.fields.
func (b *body) writeContent(w *gomessage.Writer) error {
	if b.html == "" {
		return writeAll(w, b.text)
	}
	for _, part := range []struct{ subtype, content string }{{"plain", b.text}, {"html", b.html}} {
		pw, err := w.CreatePart(header(textFields(part.subtype)))
		if err != nil {
			return err
		}
		if err := writeAll(pw, part.content); err != nil {
			return err
		}
	}
	return w.Close()
}

func writeAll(w io.WriteCloser, s string) error {
	if _, err := io.WriteString(w, s); err != nil {
		return err
	}
	return w.Close()
}

// writeMixed writes multipart/mixed: the body, then IHE_XDM.zip and the PDFs (ECO.2.1.1), then the
// plain files.
func writeMixed(w io.Writer, top []field, b *body, atts []attachment, r io.Reader) error {
	h, err := randomHex(r, 12)
	if err != nil {
		return err
	}
	mw, err := gomessage.CreateWriter(w, header(append(top, field{"Content-Type", `multipart/mixed; boundary="mix_` + h + `"`})))
	if err != nil {
		return err
	}
	if err := b.writeAsPart(mw); err != nil {
		return err
	}
	for _, a := range atts {
		fs := []field{
			{"Content-Type", mime.FormatMediaType(a.contentType, map[string]string{"name": a.name})},
			{"Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.name})},
			{"Content-Transfer-Encoding", "base64"},
		}
		pw, err := mw.CreatePart(header(fs))
		if err != nil {
			return err
		}
		if _, err := pw.Write(a.data); err != nil {
			return err
		}
		if err := pw.Close(); err != nil {
			return err
		}
	}
	return mw.Close()
}
