package peertest

import (
	"bufio"
	"net"
	"strings"
	"testing"
)

// TestStart_smoke starts the stack and reads both greetings.
func TestStart_smoke(t *testing.T) {
	s := Start(t, Options{AppUsers: []string{"appli@test.mssante.fr"}})
	for _, a := range []string{s.IMAP, s.Submission, s.SubmissionNoTLS} {
		c, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		_ = c.Close()
		if err != nil || !(strings.HasPrefix(line, "* OK") || strings.HasPrefix(line, "220 ")) {
			t.Errorf("greeting on %s = %q, %v\n%s", a, line, err, s.Logs())
		}
	}
}
