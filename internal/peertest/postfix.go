package peertest

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const masterCF = `# peertest private Postfix
%[1]s inet n - n - - smtpd
%[2]s inet n - n - - smtpd -o smtpd_tls_security_level=none -o smtpd_tls_auth_only=no
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`

const mainCF = `# peertest private Postfix
compatibility_level = 3.6
queue_directory = %[1]s/pf/queue
data_directory = %[1]s/pf/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.%[2]s
mydomain = %[2]s
myorigin = $mydomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
maillog_file = %[1]s/postfix.log
maillog_file_prefixes = %[1]s
alias_maps =
alias_database =
local_recipient_maps =
biff = no
virtual_mailbox_domains = %[2]s
virtual_transport = lmtp:inet:%[3]s
smtpd_sasl_type = dovecot
smtpd_sasl_path = %[1]s/run/auth-postfix
smtpd_sasl_auth_enable = yes
smtpd_tls_cert_file = %[4]s
smtpd_tls_key_file = %[5]s
smtpd_tls_CAfile = %[6]s
smtpd_tls_ask_ccert = yes
smtpd_tls_security_level = encrypt
smtpd_tls_auth_only = yes
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_protocols = >=TLSv1.2
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_restriction_classes = app_needs_cert
app_needs_cert = permit_tls_all_clientcerts, reject
smtpd_sender_login_maps = regexp:%[1]s/pf/etc/sender_logins
smtpd_sender_restrictions = reject_sender_login_mismatch, check_sender_access texthash:%[1]s/pf/etc/app_senders
header_checks = regexp:%[1]s/pf/etc/header_checks
`

func (s *Stack) startPostfix(o Options) {
	t := s.t
	d := s.Dir
	etc := filepath.Join(d, "pf", "etc")
	subPort, plainPort := freePort(t), freePort(t)
	s.Submission, s.SubmissionNoTLS = addr(subPort), addr(plainPort)
	caFile := filepath.Join(d, "tls", "roots.pem")
	writeFile(t, caFile, append(append([]byte{}, s.PKI.Root.CertPEM...), s.PKI.Org.CertPEM...), 0o644)
	var senders strings.Builder
	for _, u := range o.AppUsers {
		fmt.Fprintf(&senders, "%s app_needs_cert\n", u)
	}
	writeFile(t, filepath.Join(etc, "app_senders"), []byte(senders.String()), 0o644)
	writeFile(t, filepath.Join(etc, "sender_logins"), []byte("/^(.+)$/ ${1}\n"), 0o644)
	// Operators check the From field against the login with a milter (Postfix alone cannot): a
	// display name "Usurpation" stands for a mismatch here, refused as a milter would, with
	// 550 5.7.1 at the end of DATA.
	writeFile(t, filepath.Join(etc, "header_checks"), []byte("/^From:.*Usurpation/ REJECT From header rejected: not owned by the login\n"), 0o644)
	writeFile(t, filepath.Join(etc, "master.cf"), []byte(fmt.Sprintf(masterCF, s.Submission, s.SubmissionNoTLS)), 0o644)
	writeFile(t, filepath.Join(etc, "main.cf"), []byte(fmt.Sprintf(mainCF, d, s.Domain, s.LMTP,
		s.chainFile, s.keyFile, caFile)), 0o644)
	for _, sub := range []string{"queue", "data"} {
		must(t, os.MkdirAll(filepath.Join(d, "pf", sub), 0o755))
	}
	uid, gid := postfixIDs(t)
	must(t, os.Chown(filepath.Join(d, "pf", "data"), uid, gid))
	run(t, s.postfix, "-c", etc, "start")
	t.Cleanup(func() {
		_, _ = runQuiet(s.postfix, "-c", etc, "stop")
	})
	waitPort(t, s.Submission, filepath.Join(d, "postfix.log"))
}

// postfixIDs are the uid and gid of the postfix user, which owns the data directory (they differ
// between machines: Debian allocates them at install).
func postfixIDs(t testing.TB) (uid, gid int) {
	u, err := user.Lookup("postfix")
	if err != nil {
		t.Fatalf("peertest: %v", err)
	}
	uid, err = strconv.Atoi(u.Uid)
	must(t, err)
	gid, err = strconv.Atoi(u.Gid)
	must(t, err)
	return uid, gid
}

// RestartPostfix stops and starts Postfix: open SMTP sessions are closed by the server.
func (s *Stack) RestartPostfix() {
	s.t.Helper()
	etc := filepath.Join(s.Dir, "pf", "etc")
	run(s.t, s.postfix, "-c", etc, "stop")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if out, err := runQuiet(s.postfix, "-c", etc, "status"); err != nil {
			_ = out
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	run(s.t, s.postfix, "-c", etc, "start")
	waitPort(s.t, s.Submission, filepath.Join(s.Dir, "postfix.log"))
}
