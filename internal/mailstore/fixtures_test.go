package mailstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/testkit"
	"github.com/mssante/mssante/message"
)

// Synthetic identities (test OID 1.2.250.1.213.1.4.10, invented names).
const (
	bioINS   = "162036912304592" // patient of cda/testdata/n3-cr-biologie.xml
	drMartin = "marie.martin@medecin.mssante.fr"
	drDupont = "jean.dupont@hopital-a.mssante.fr"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func readFile(t testing.TB, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{testkit.ModuleRoot(t)}, elem...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixture returns a mail of message/testdata.
func fixture(t testing.TB, name string) []byte { return readFile(t, "message", "testdata", name) }

// cdaMail composes, with the message package, a mail from Dr Dupont carrying the synthetic CDA
// cda/testdata/name in IHE_XDM.zip, to Dr Martin.
func cdaMail(t testing.TB, name string, seed byte, at time.Time) *message.Composed {
	t.Helper()
	c, err := message.Compose(&message.Draft{
		From: message.Address{Name: "Dr Jean DUPONT", Addr: drDupont},
		To:   []message.Address{{Name: "Dr Marie MARTIN", Addr: drMartin}},
		Text: "Bonjour, veuillez trouver le compte rendu ci-joint.",
		CDAs: [][]byte{readFile(t, "cda", "testdata", name)},
	}, &message.Options{NIL: "TEST-NIL", Now: func() time.Time { return at },
		Rand: rand.NewChaCha8([32]byte{'m', 's', seed})})
	if err != nil {
		t.Fatalf("Compose %s: %v", name, err)
	}
	return c
}

// plainMail is a small professional mail; parent, when set, makes it a reply.
func plainMail(from, fromName, subject, id string, at time.Time, body string, parent ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s <%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n",
		fromName, from, drMartin, subject, id, at.Format(time.RFC1123Z))
	if len(parent) > 0 {
		refs := make([]string, len(parent))
		for i, p := range parent {
			refs[i] = "<" + p + ">"
		}
		fmt.Fprintf(&b, "In-Reply-To: %s\r\nReferences: %s\r\n", refs[len(refs)-1], strings.Join(refs, " "))
	}
	fmt.Fprintf(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", body)
	return []byte(b.String())
}
