package sandbox

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// The operator names itself like a real one: reports come from MAILER-DAEMON@smtp.<pro domain>
// with "Reporting-MTA: dns; smtp.<pro domain>", a name its server certificate carries, never
// "localhost" (QA issue 5; ECO.2.3.1 reports).
func TestWorld_reportsNameTheOperatorHost(t *testing.T) {
	w := startWorld(t, t.TempDir(), true)
	from, to := account(t, w, "personal", false).Address, account(t, w, "organisational", false).Address
	msg := "From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: rapport\r\nDate: " + time.Now().Format(time.RFC1123Z) +
		"\r\nMessage-ID: <qa5-host@sandbox.test>\r\n\r\nBonjour.\r\n"
	if err := w.Operator.Deliver(from, []string{to}, []byte(msg), "SUCCESS"); err != nil {
		t.Fatal(err)
	}
	msgs, err := w.Operator.Messages(from, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	host := "smtp." + w.Config.ProDomain
	var report string
	for _, m := range msgs {
		if strings.Contains(string(m.Data), "Reporting-MTA") {
			report = string(m.Data)
		}
	}
	if !strings.Contains(report, "MAILER-DAEMON@"+host) || !strings.Contains(report, "Reporting-MTA: dns; "+host) ||
		strings.Contains(report, "localhost") {
		t.Errorf("report does not name %s:\n%s", host, report)
	}
	if !slices.Contains(serverHosts(w.Config), host) {
		t.Errorf("server certificate names %v, not %s", serverHosts(w.Config), host)
	}
}
