package peertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func (s *Stack) startDovecot(o Options) {
	t := s.t
	d := s.Dir
	srv := s.PKI.Server("localhost", "127.0.0.1")
	must(t, os.MkdirAll(filepath.Join(d, "tls"), 0o755))
	_, keyFile, chainFile := srv.WriteFiles(t, filepath.Join(d, "tls"), "server")
	s.keyFile, s.chainFile = keyFile, chainFile
	s.ServerCert = srv.Cert
	writeFile(t, filepath.Join(d, "tls", "ca.pem"), s.caBundle(), 0o644)
	writeFile(t, filepath.Join(d, "keys", s.azp, "RS256", s.kid), s.jwtPublicPEM(), 0o644)
	writeFile(t, filepath.Join(d, "oauth2.conf"), []byte(fmt.Sprintf(`introspection_mode = local
local_validation_key_dict = fs:posix:prefix=%s/keys/
username_attribute = email
issuers = %s
`, d, s.iss)), 0o644)
	var apps strings.Builder
	for _, u := range o.AppUsers {
		fmt.Fprintf(&apps, "%s:::::::nopassword\n", u)
	}
	// %{service}%{cert}: IMAP needs a valid client certificate ("imapvalid"); Postfix ("smtp")
	// cannot show it and checks it itself at MAIL FROM.
	writeFile(t, filepath.Join(d, "app-imapvalid.passwd"), []byte(apps.String()), 0o644)
	writeFile(t, filepath.Join(d, "app-smtp.passwd"), []byte(apps.String()), 0o644)
	writeFile(t, filepath.Join(d, "app-imap.passwd"), nil, 0o644)
	writeFile(t, filepath.Join(d, "app-smtpvalid.passwd"), []byte(apps.String()), 0o644)
	must(t, os.MkdirAll(filepath.Join(d, "mail"), 0o755))
	must(t, os.Chown(filepath.Join(d, "mail"), 65534, 65534))

	imapPort, lmtpPort := freePort(t), freePort(t)
	for lmtpPort == imapPort { // freePort closes its listener: the next call may get the same port
		lmtpPort = freePort(t)
	}
	s.IMAP, s.LMTP = addr(imapPort), addr(lmtpPort)
	ssl := fmt.Sprintf(`ssl = yes
ssl_cert = <%s
ssl_key = <%s
ssl_ca = <%s
ssl_verify_client_cert = yes
ssl_require_crl = yes
ssl_min_protocol = TLSv1.2
`, chainFile, keyFile, filepath.Join(d, "tls", "ca.pem"))
	if o.NoTLS {
		ssl = "ssl = no\n"
	}
	quotaPlugin, quotaConf := "", ""
	if o.QuotaKB > 0 {
		quotaPlugin = " quota"
		quotaConf = fmt.Sprintf(`protocol imap {
  mail_plugins = $mail_plugins imap_quota
}
plugin {
  quota = count:User quota
  quota_rule = *:storage=%dK
  quota_vsizes = yes
}
`, o.QuotaKB)
	}
	conf := fmt.Sprintf(`# peertest private Dovecot
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
instance_name = peertest-%[2]d
protocols = imap lmtp
listen = 127.0.0.1
%[3]s
disable_plaintext_auth = yes
auth_mechanisms = plain xoauth2 oauthbearer
auth_failure_delay = 0
auth_verbose = yes
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_location = maildir:%[1]s/mail/%%d/%%n
mail_uid = 65534
mail_gid = 65534
mail_plugins = $mail_plugins%[7]s
imap_capability = +MOVE
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \Trash
    auto = subscribe
  }
}
passdb {
  driver = passwd-file
  args = %[1]s/app-%%{service}%%{cert}.passwd
  result_failure = continue
  result_internalfail = continue
}
passdb {
  driver = oauth2
  args = %[1]s/oauth2.conf
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=%[1]s/mail/%%d/%%n allow_all_users=yes
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[4]d
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = %[5]d
  }
}
service auth {
  unix_listener auth-postfix {
    mode = 0666
  }
}
protocol lmtp {
  postmaster_address = postmaster@%[6]s
}
%[8]s`, d, imapPort, ssl, imapPort, lmtpPort, s.Domain, quotaPlugin, quotaConf)
	confFile := filepath.Join(d, "dovecot.conf")
	writeFile(t, confFile, []byte(conf), 0o644)
	cmd := exec.Command(s.dovecot, "-F", "-c", confFile)
	out := logFile(t, filepath.Join(d, "dovecot.out"))
	t.Cleanup(func() { _ = out.Close() })
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	waitPort(t, s.IMAP, filepath.Join(d, "dovecot.out"), filepath.Join(d, "dovecot.log"))
	waitPort(t, s.LMTP, filepath.Join(d, "dovecot.log"))
}

func logFile(t interface{ Fatal(...any) }, path string) *os.File {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
