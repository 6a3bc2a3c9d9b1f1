package mailstore

import (
	"testing"
	"time"
)

// FuzzIndex: any bytes are indexed without panic, with a sender kind and a thread whenever the
// message has a Message-ID.
func FuzzIndex(f *testing.F) {
	for _, name := range []string{"plain.eml", "applicative-html.eml", "read/patient-plain-order.eml",
		"read/mes-bounce.eml", "read/dsn-failed.eml", "read/mdn-displayed.eml"} {
		f.Add(fixture(f, name))
	}
	f.Add(cdaMail(f, "n3-cr-biologie.xml", 1, time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)).Data)
	f.Add([]byte("Subject: XDM/1.0/DDM+\r\n\r\n<html><b>x"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		e := index(raw, nil)
		switch e.Kind {
		case SenderProfessional, SenderPatient, SenderApplicative, SenderNotice:
		default:
			t.Fatalf("kind %q", e.Kind)
		}
		if e.MessageID != "" && e.threadID() == "" {
			t.Fatal("no thread for a message with a Message-ID")
		}
		if (e.Kind == SenderPatient) != (e.Patient != nil) {
			t.Fatalf("kind %s with patient %+v", e.Kind, e.Patient)
		}
		_ = e.patientKey(nil)
	})
}

// FuzzMaildirName: names this writer gives read back; other names never panic.
func FuzzMaildirName(f *testing.F) {
	f.Add(int64(12), uint32(7), "S")
	f.Add(int64(0), uint32(0), "")
	f.Add(int64(1<<40), uint32(1<<31), "DFPRST")
	f.Fuzz(func(t *testing.T, id int64, uid uint32, info string) {
		m := &Maildir{}
		if id < 0 {
			id = -id
		}
		if id < 0 {
			return
		}
		var flags []string
		for _, c := range info {
			for f, l := range maildirFlags {
				if rune(l) == c {
					flags = append(flags, f)
				}
			}
		}
		name := m.name(id, uid, flags)
		gotID, got, ok := parseMaildirName(name)
		if !ok || gotID != id || got.uid != uid || got.info != infoOf(flags) {
			t.Fatalf("%q read back as %d %+v %t", name, gotID, got, ok)
		}
		parseMaildirName(info) // must not panic
	})
}
