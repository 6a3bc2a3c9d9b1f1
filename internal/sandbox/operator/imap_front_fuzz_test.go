package operator

import (
	"strings"
	"testing"
)

// FuzzFrontLine feeds the IMAP front's reading of a command line (outside input, before go-imap
// sees it). Properties: no panic; a FETCH split gives non-empty items whose rebuilt line splits
// the same way; a literal announcement is a non-negative size; the first argument of a quota
// command reads back from its quoted form.
func FuzzFrontLine(f *testing.F) {
	for _, s := range []string{
		"a SELECT INBOX (CONDSTORE)", `c SELECT "INBOX`, "", "\xff\xfe x", "b UID FETCH 1:* (UID FLAGS MODSEQ) (CHANGEDSINCE 42)",
		"d FETCH 1 BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>", "e FETCH 2 ALL", `f STORE 1:2 (UNCHANGEDSINCE 5) +FLAGS (\Seen)`,
		`g GETQUOTAROOT "Dossier \"x\""`, `k UID SEARCH OR (MODSEQ 5) SUBJECT "a\"b" MODSEQ "/flags/\\draft" all 7`, "h APPEND Sent {12}", "i APPEND Sent {12+}", "j FETCH 1 (",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		tag, name, args := splitCommand([]byte(line))
		_ = validTag(tag)
		_ = unterminatedQuote(args)
		if n, ok := literalSuffix(line); ok && n < 0 {
			t.Fatalf("literal size %d", n)
		}
		if strings.HasSuffix(name, "FETCH") {
			set, atts, mods, ok := splitFetch(args)
			if ok {
				for _, a := range atts {
					if a == "" {
						t.Fatalf("splitFetch(%q): empty item in %q", args, atts)
					}
				}
				again := set + " (" + strings.Join(atts, " ") + ")"
				if mods != "" {
					again += " " + mods
				}
				if s2, a2, m2, ok2 := splitFetch(again); !ok2 || s2 != set || strings.Join(a2, " ") != strings.Join(atts, " ") || m2 != mods {
					t.Fatalf("splitFetch(%q) = %q %q %q; rebuilt %q splits to %q %q %q %t", args, set, atts, mods, again, s2, a2, m2, ok2)
				}
			}
		}
		for _, tok := range searchTokens(args) {
			if tok == "" || strings.HasPrefix(tok, " ") {
				t.Fatalf("searchTokens(%q): token %q", args, tok)
			}
		}
		if a, ok := parseAString(args); ok {
			if b, ok := parseAString(quoteIMAP(a)); !ok || b != a {
				t.Fatalf("parseAString(quoteIMAP(%q)) = %q, %t", a, b, ok)
			}
		}
	})
}
