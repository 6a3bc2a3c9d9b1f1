package operator_test

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
)

// checkReportASCII checks a multipart/report as RFC 3464 and RFC 2047 want it: every header
// field of the report ASCII (encoded words for French), the message/delivery-status part ASCII,
// and the human part declaring its charset.
func checkReportASCII(t *testing.T, raw []byte) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	head := raw[:bytes.Index(raw, []byte("\r\n\r\n"))]
	if i := nonASCII(head); i >= 0 {
		t.Errorf("report header holds raw 8-bit bytes: %q", head[max(0, i-30):min(len(head), i+30)])
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	seen := false
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p)
		ct := p.Header.Get("Content-Type")
		switch {
		case strings.HasPrefix(ct, "message/delivery-status"):
			seen = true
			if i := nonASCII(body); i >= 0 {
				t.Errorf("delivery-status part holds raw 8-bit bytes: %q", body[max(0, i-30):min(len(body), i+30)])
			}
		case strings.HasPrefix(ct, "text/plain") && !strings.Contains(ct, "charset="):
			t.Errorf("human part without charset: %q", ct)
		}
	}
	if !seen {
		t.Error("no message/delivery-status part")
	}
}

func nonASCII(b []byte) int {
	for i, c := range b {
		if c >= 0x80 {
			return i
		}
	}
	return -1
}
