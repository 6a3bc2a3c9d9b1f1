package operator

import (
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// IMAP QUOTA (RFC 9208), answered by the front (go-imap v2 beta.8 has no hook for it): one
// quota root per account, named "User quota" as Dovecot's quota plugin names it, with the
// STORAGE resource in KiB: the bytes of every folder of the account against
// Options.QuotaStorage. APPEND and COPY over it get NO [OVERQUOTA] (imap.go).

const quotaRoot = "User quota"

var errOverQuota = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeOverQuota,
	Text: "Quota exceeded (mailbox for user is full)"}

// usage returns the bytes stored in all folders of the account.
func (u *userStore) usage() int64 {
	var n int64
	for _, mb := range u.list() {
		mb.mu.Lock()
		for _, m := range mb.msgs {
			n += m.Size
		}
		mb.mu.Unlock()
	}
	return n
}

// checkQuota refuses adding size bytes to the account beyond its quota.
func (s *imapSession) checkQuota(size int64) error {
	if s.user.usage()+size > s.op.opts.QuotaStorage {
		return errOverQuota
	}
	return nil
}

// quotaCommand answers GETQUOTAROOT, GETQUOTA and SETQUOTA.
func (f *imapFront) quotaCommand(tag, name, args string) {
	if !f.authenticated() {
		f.write(tag + " BAD Error in IMAP command received by server.\r\n")
		return
	}
	u := f.sess.user
	quota := fmt.Sprintf("* QUOTA %s (STORAGE %d %d)\r\n", quoteIMAP(quotaRoot), u.usage()/1024, f.op.opts.QuotaStorage/1024)
	arg, ok := parseAString(args)
	switch {
	case !ok:
		f.write(fmt.Sprintf("%s BAD Error in IMAP command %s: Invalid arguments.\r\n", tag, name))
	case name == "GETQUOTAROOT":
		// Like Dovecot, whether the folder exists is not checked: every folder has the root.
		f.write("* QUOTAROOT " + astring(arg) + " " + quoteIMAP(quotaRoot) + "\r\n" + quota + tag + " OK Getquotaroot completed.\r\n")
	case name == "GETQUOTA":
		if arg != quotaRoot {
			f.write(tag + " NO Quota root does not exist\r\n")
			return
		}
		f.write(quota + tag + " OK Getquota completed.\r\n")
	default: // SETQUOTA: the operator sets quotas, not its users
		f.write(tag + " NO [NOPERM] Permission denied\r\n")
	}
}

// parseAString reads the first argument: an atom or a quoted string.
func parseAString(args string) (string, bool) {
	if !strings.HasPrefix(args, `"`) {
		a, _, _ := strings.Cut(args, " ")
		return a, a != ""
	}
	var b strings.Builder
	for i := 1; i < len(args); i++ {
		switch c := args[i]; c {
		case '\\':
			if i+1 < len(args) {
				i++
				b.WriteByte(args[i])
			}
		case '"':
			return b.String(), true
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}

// quoteIMAP writes s as an IMAP quoted string.
func quoteIMAP(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// astring writes s as an atom when it can be one, else quoted.
func astring(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return quoteIMAP(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}
