package operator

import (
	"bytes"
	"io"
	"strings"

	gomessage "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // ISO-8859-x and Windows-125x parts, as Dovecot decodes them
)

// maxSearchText bounds the decoded text kept for one SEARCH criterion evaluation.
const maxSearchText = 32 << 20

// decodedBody returns the text of the message's text/* parts with their transfer encoding and
// charset decoded, as Dovecot searches BODY and TEXT (RFC 3501 §6.4.4 leaves decoding to the
// server; a search for "données" must find a quoted-printable body). Parts that do not decode are
// skipped: the raw message is searched too.
func decodedBody(data []byte) string {
	e, err := gomessage.Read(bytes.NewReader(data))
	if e == nil {
		return ""
	}
	_ = err // an unknown charset still gives a readable entity
	var b strings.Builder
	_ = e.Walk(func(_ []int, part *gomessage.Entity, err error) error {
		if err != nil || part.MultipartReader() != nil {
			return nil
		}
		ct, _, _ := part.Header.ContentType()
		if ct != "" && !strings.HasPrefix(ct, "text/") {
			return nil
		}
		_, _ = io.Copy(&b, io.LimitReader(part.Body, int64(maxSearchText-b.Len())))
		b.WriteByte('\n')
		return nil
	})
	return b.String()
}
