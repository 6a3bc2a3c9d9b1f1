package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// A synthetic mailbox of an applicative account in the shape of a hospital service's: mostly short
// text messages, a tenth with a report attached (PDF or IHE XDM archive, 20–130 KB), and 0.8 % with
// large attachments (1–5 MB: imaging reports, scanned files). 10,000 messages come to about
// 390 MB. Every message is determined by the seed and its index.

// folders and their share of the messages.
var folders = []struct {
	name  string
	share int // per mille
}{{"INBOX", 700}, {"Sent", 200}, {"Archives/2025", 100}}

type class int

const (
	small class = iota
	medium
	large
)

// corpusSummary describes a set of messages independently of where they are stored: the count,
// the bytes with LF line ends (Maildir writers differ in CRLF conversion), and a digest of the
// sorted SHA-256 of each message with LF line ends and without mbsync's X-TUID field, so that two Maildirs holding the same messages
// have the same summary.
type corpusSummary struct {
	Messages int            `json:"messages"`
	Bytes    int64          `json:"bytes"`
	Digest   string         `json:"digest"`
	Folders  map[string]int `json:"folders,omitempty"`
	Classes  map[string]int `json:"classes,omitempty"`
	hashes   [][sha256.Size]byte
}

func (s *corpusSummary) add(msg []byte) {
	lf := dropTUID(normalizeLF(msg))
	s.Messages++
	s.Bytes += int64(len(lf))
	s.hashes = append(s.hashes, sha256.Sum256(lf))
}

func (s *corpusSummary) finish() {
	slices.SortFunc(s.hashes, func(a, b [sha256.Size]byte) int { return strings.Compare(string(a[:]), string(b[:])) })
	h := sha256.New()
	for _, x := range s.hashes {
		h.Write(x[:])
	}
	s.Digest = hex.EncodeToString(h.Sum(nil))[:16]
}

// dropTUID removes the X-TUID header field that mbsync adds to the messages it stores (to find their
// UID again after a crash).
func dropTUID(b []byte) []byte {
	end := bytes.Index(b, []byte("\n\n"))
	if end < 0 {
		end = len(b)
	}
	i := bytes.Index(b[:end], []byte("X-TUID: "))
	if i < 0 || (i > 0 && b[i-1] != '\n') {
		return b
	}
	j := bytes.IndexByte(b[i:], '\n')
	return append(append([]byte{}, b[:i]...), b[i+j+1:]...)
}

func normalizeLF(b []byte) []byte {
	if !slices.Contains(b, '\r') {
		return b
	}
	out := make([]byte, 0, len(b))
	for i, c := range b {
		if c == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			continue
		}
		out = append(out, c)
	}
	return out
}

// writeCorpus writes n messages for owner into a Maildir tree under root (layout fs: root/INBOX,
// root/Sent, root/Archives/2025, each with cur/new/tmp), world-readable so that Dovecot's mail
// user can import it.
func writeCorpus(root string, n int, seed uint64, owner, domain string) (*corpusSummary, error) {
	r := rand.New(rand.NewPCG(seed, 0x7472616e73706f72))
	classes := make([]class, n)
	for i := range classes {
		switch {
		case i < n*8/1000:
			classes[i] = large
		case i < n*108/1000:
			classes[i] = medium
		}
	}
	r.Shuffle(n, func(i, j int) { classes[i], classes[j] = classes[j], classes[i] })
	sum := &corpusSummary{Folders: map[string]int{}, Classes: map[string]int{}}
	for _, f := range folders {
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(root, f.name, sub), 0o755); err != nil {
				return nil, err
			}
		}
	}
	start := time.Date(2025, 1, 6, 8, 0, 0, 0, time.FixedZone("CET", 3600))
	var buf strings.Builder
	for i := 0; i < n; i++ {
		folder := pickFolder(r)
		date := start.Add(time.Duration(i) * 47 * time.Minute)
		buf.Reset()
		cl := writeMessage(&buf, r, i, classes[i], folder, date, owner, domain)
		msg := []byte(buf.String())
		flags := ""
		if p := r.IntN(100); p < 72 || folder != "INBOX" {
			flags = "S"
			if p < 6 {
				flags = "FS"
			}
		}
		name := fmt.Sprintf("%d.M%dP1.bench:2,%s", date.Unix(), i, flags)
		if err := os.WriteFile(filepath.Join(root, folder, "cur", name), msg, 0o644); err != nil {
			return nil, err
		}
		sum.add(msg)
		sum.Folders[folder]++
		sum.Classes[cl]++
	}
	sum.finish()
	return sum, nil
}

func pickFolder(r *rand.Rand) string {
	p := r.IntN(1000)
	for _, f := range folders {
		if p < f.share {
			return f.name
		}
		p -= f.share
	}
	return folders[0].name
}

var (
	givenNames = []string{"Camille", "Louis", "Chloé", "Hugo", "Léa", "Jules", "Manon", "Gabriel", "Inès", "Raphaël", "Zoé", "Arthur"}
	surnames   = []string{"Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Simon", "Laurent"}
	services   = []string{"cardiologie", "radiologie", "biologie", "pédiatrie", "oncologie", "urgences", "neurologie", "pneumologie"}
	words      = strings.Fields(`le la les des un une patient patiente examen compte rendu résultat bilan
		consultation suivi traitement ordonnance hospitalisation sortie admission service médecin
		docteur confrère consœur merci cordialement joint ci-joint document analyse biologique
		imagerie scanner IRM échographie radiographie tension artérielle fréquence cardiaque normale
		contrôle dans trois mois rendez-vous prévu semaine prochaine antécédents allergie aucune
		posologie matin soir comprimé dose adaptée fonction rénale clairance créatinine hémoglobine
		plaquettes leucocytes glycémie à jeun cholestérol LDL HDL triglycérides avis spécialisé`)
)

// writeMessage writes message i of class cl and returns the class name.
func writeMessage(b *strings.Builder, r *rand.Rand, i int, cl class, folder string, date time.Time, owner, domain string) string {
	peer := fmt.Sprintf("%s.%s@%s", strings.ToLower(ascii(givenNames[r.IntN(len(givenNames))])),
		strings.ToLower(surnames[r.IntN(len(surnames))]), domain)
	from, to := peer, owner
	if folder == "Sent" {
		from, to = owner, peer
	}
	service := services[r.IntN(len(services))]
	fmt.Fprintf(b, "Return-Path: <%s>\n", from)
	fmt.Fprintf(b, "From: <%s>\nTo: <%s>\n", from, to)
	fmt.Fprintf(b, "Date: %s\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(b, "Message-ID: <bench-%06d.%d@%s>\n", i, r.Uint32(), domain)
	fmt.Fprintf(b, "MIME-Version: 1.0\n")
	var target int
	name := "small"
	switch cl {
	case small:
		target = 1500 + r.IntN(10500)
	case medium:
		target = 20000 + r.IntN(110000)
		name = "medium"
	case large:
		target = 1_000_000 + r.IntN(4_000_000)
		name = "large"
	}
	if cl == small {
		fmt.Fprintf(b, "Subject: Suivi %s, dossier %d\n", service, 10000+r.IntN(90000))
		fmt.Fprintf(b, "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
		text(b, r, target-b.Len())
		return name
	}
	xdm := r.IntN(3) == 0
	subject := fmt.Sprintf("Compte rendu de %s, dossier %d", service, 10000+r.IntN(90000))
	if xdm {
		subject = "[IHE-XDM] " + subject
	}
	boundary := fmt.Sprintf("=_bench_%08x", r.Uint32())
	fmt.Fprintf(b, "Subject: %s\n", subject)
	fmt.Fprintf(b, "Content-Type: multipart/mixed; boundary=\"%s\"\n\n", boundary)
	fmt.Fprintf(b, "This is a multi-part message in MIME format.\n\n--%s\n", boundary)
	fmt.Fprintf(b, "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
	text(b, r, 600+r.IntN(2400))
	parts := 1
	if cl == large {
		parts = 1 + r.IntN(3)
	}
	for p := 0; p < parts; p++ {
		left := target - b.Len()
		size := left / (parts - p) * 3 / 4 // base64 grows by 4/3
		ctype, fname := "application/pdf", fmt.Sprintf("CR_%06d_%d.pdf", i, p+1)
		if xdm && p == 0 {
			ctype, fname = "application/zip", "IHE_XDM.ZIP"
		}
		fmt.Fprintf(b, "\n--%s\nContent-Type: %s; name=\"%s\"\nContent-Disposition: attachment; filename=\"%s\"\nContent-Transfer-Encoding: base64\n\n",
			boundary, ctype, fname, fname)
		attachment(b, r, max(size, 1024), ctype)
	}
	fmt.Fprintf(b, "\n--%s--\n", boundary)
	return name
}

func ascii(s string) string {
	return strings.NewReplacer("é", "e", "ë", "e", "è", "e", "ï", "i").Replace(s)
}

// text writes about n bytes of French-looking prose in lines of at most 76 bytes.
func text(b *strings.Builder, r *rand.Rand, n int) {
	line := 0
	for written := 0; written < n; {
		w := words[r.IntN(len(words))]
		if line+len(w)+1 > 76 {
			b.WriteByte('\n')
			written++
			line = 0
		} else if line > 0 {
			b.WriteByte(' ')
			written++
			line++
		}
		b.WriteString(w)
		written += len(w)
		line += len(w)
	}
	b.WriteString("\n\nCordialement,\n-- \nService de " + services[r.IntN(len(services))] + "\n")
}

// attachment writes n random bytes (incompressible, like a PDF's streams or a ZIP) in base64
// lines of 76 characters.
func attachment(b *strings.Builder, r *rand.Rand, n int, ctype string) {
	raw := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			raw[i+j] = byte(v >> (8 * j))
		}
	}
	magic := "%PDF-1.4\n"
	if ctype == "application/zip" {
		magic = "PK\x03\x04"
	}
	copy(raw, magic)
	enc := base64.StdEncoding.EncodeToString(raw)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteByte('\n')
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteByte('\n')
}

// summarizeMaildir summarises the messages of every Maildir under root (files in cur/ and new/
// directories at any depth; the writers' own state files are elsewhere).
func summarizeMaildir(root string) (*corpusSummary, error) {
	sum := &corpusSummary{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		if dir := filepath.Base(filepath.Dir(p)); dir != "cur" && dir != "new" {
			return nil
		}
		msg, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum.add(msg)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sum.finish()
	return sum, nil
}

// writeSubmission writes n messages of about size bytes from sender to rcpt into dir, CRLF line
// ends (what an SMTP client sends), named 0001.eml….
func writeSubmission(dir string, n, size int, seed uint64, from, rcpt string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 0x7375626d6974))
	for i := 1; i <= n; i++ {
		var b strings.Builder
		fmt.Fprintf(&b, "From: <%s>\nTo: <%s>\nSubject: Compte rendu %04d\nDate: %s\n", from, rcpt, i,
			time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Second).Format(time.RFC1123Z))
		fmt.Fprintf(&b, "Message-ID: <submit-%s-%04d.%d@bench.invalid>\nMIME-Version: 1.0\n", strings.SplitN(rcpt, "@", 2)[0], i, r.Uint32())
		fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
		text(&b, r, size-b.Len()-60)
		msg := strings.ReplaceAll(b.String(), "\n", "\r\n")
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%04d.eml", i)), []byte(msg), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func writeJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
