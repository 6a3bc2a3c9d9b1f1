package message

import (
	"errors"
	"strings"
	"testing"
)

// ECO.3.1.6: a read receipt (RFC 8098, displayed) answers a mail that asks for one.
func TestBuildMDN_ECO_3_1_6(t *testing.T) {
	orig := mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, Subject: "Votre patiente", Text: "x", MDN: true}, fixedOptions())
	received := mustParse(t, orig.Data)
	c, err := BuildMDN(received, drDupont, fixedOptions())
	if err != nil {
		t.Fatal(err)
	}
	if ct, _ := headerValue(c.Data, "Content-Type"); !strings.HasPrefix(ct, "multipart/report; report-type=disposition-notification;") {
		t.Errorf("Content-Type = %q", ct)
	}
	if to, _ := headerValue(c.Data, "To"); to != `"Dr Marie MARTIN" <marie.martin@medecin.mssante.fr>` {
		t.Errorf("To = %q", to)
	}
	if v, _ := headerValue(c.Data, "X-MSS-NIL"); v != "TEST-NIL-0001" { // ECO.2.4.3 on every mail
		t.Errorf("X-MSS-NIL = %q", v)
	}
	if !strings.Contains(string(c.Data), "Disposition: manual-action/MDN-sent-manually; displayed\r\n") {
		t.Error("no displayed disposition")
	}
	back := mustParse(t, c.Data)
	if len(back.Reports) != 1 || back.Reports[0].Disposition != "displayed" || back.Reports[0].OriginalMessageID != received.MessageID ||
		back.Reports[0].Recipient != drDupont.Addr {
		t.Errorf("MDN read back: %+v", back.Reports)
	}
	if strings.Join(back.InReplyTo, "") != received.MessageID {
		t.Errorf("In-Reply-To = %v", back.InReplyTo)
	}
	golden(t, "mdn.eml", c.Data)
}

func TestBuildMDN_refusesWithoutRequest(t *testing.T) {
	orig := mustCompose(t, &Draft{From: drMartin, To: []Address{drDupont}, Text: "x"}, fixedOptions())
	if _, err := BuildMDN(mustParse(t, orig.Data), drDupont, nil); !errors.Is(err, ErrNoMDNRequested) {
		t.Errorf("error = %v, want ErrNoMDNRequested", err)
	}
}
