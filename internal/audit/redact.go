package audit

import (
	"encoding/base64"
	"regexp"
	"strings"
)

// redactions replace secrets with "***". They run on every text that enters the trail, so a caller
// that forgets to redact cannot leak a token (DESIGN.md non-negotiables, ECO.1.2.5).
var redactions = []struct {
	re   *regexp.Regexp
	repl string
}{
	// SASL initial responses and continuation lines: AUTHENTICATE XOAUTH2 <b64>, AUTH PLAIN <b64>…
	{regexp.MustCompile(`(?i)\b(AUTH(?:ENTICATE)?\s+(?:XOAUTH2|OAUTHBEARER|PLAIN|LOGIN|EXTERNAL))\s+\S+`), "$1 ***"},
	// IMAP LOGIN user password
	{regexp.MustCompile(`(?i)\b(LOGIN\s+\S+)\s+\S+`), "$1 ***"},
	// Bearer tokens in any form (XOAUTH2 payloads decoded, HTTP headers).
	{regexp.MustCompile(`(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*`), "$1 ***"},
	// Anything shaped like a JWT.
	{regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`), "***"},
	// token=, access_token=, refresh_token=, password= in query strings or JSON.
	{regexp.MustCompile(`(?i)("?(?:access_token|refresh_token|id_token|token|password|client_secret)"?\s*[:=]\s*"?)[^"&\s,}]+`), "$1***"},
	// PEM private keys.
	{regexp.MustCompile(`(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----`), "***"},
}

// Redact returns s with SASL payloads, passwords, bearer tokens, JWTs and private keys replaced by
// "***".
func Redact(s string) string {
	for _, r := range redactions {
		s = r.re.ReplaceAllString(s, r.repl)
	}
	return base64Word.ReplaceAllStringFunc(s, redactSASLBlob)
}

// base64Word matches a long base64 word, such as a SASL response sent alone on a continuation line.
var base64Word = regexp.MustCompile(`[A-Za-z0-9+/]{16,}={0,2}`)

// redactSASLBlob hides a base64 word that decodes to a SASL XOAUTH2/OAUTHBEARER or PLAIN response.
func redactSASLBlob(w string) string {
	b, err := base64.StdEncoding.DecodeString(w)
	if err != nil {
		return w
	}
	d := string(b)
	if strings.Contains(strings.ToLower(d), "auth=bearer") || strings.Count(d, "\x00") == 2 {
		return "***"
	}
	return w
}
