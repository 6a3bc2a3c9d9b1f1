package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/testpki"
)

// The transport commands against a private Dovecot and Postfix: send (XOAUTH2 and certificate),
// list, fetch, a refused server, and no token anywhere in the data directory or the audit export.
// ECO.1.0.1, ECO.1.0.2, ECO.1.2.1, ECO.1.2.5, ECO.1.3.1, ECO.4.1.1.
func TestTransport_sendListFetch(t *testing.T) {
	const (
		alice = "alice@test.mssante.fr"
		bob   = "bob@test.mssante.fr"
		appli = "appli@test.mssante.fr"
	)
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	st := peertest.Start(t, peertest.Options{PKI: pki, AppUsers: []string{appli}})
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	root := filepath.Join(dir, "root.pem")
	writeTestFile(t, root, pki.RootPEM())
	token := st.Token(alice, time.Hour)
	tokenFile := filepath.Join(dir, "token")
	writeTestFile(t, tokenFile, []byte(token+"\n"))
	bobToken := filepath.Join(dir, "bob-token")
	writeTestFile(t, bobToken, []byte(st.Token(bob, time.Hour)))
	certFile, keyFile, _ := pki.Client("499700000000001", appli).WriteFiles(t, dir, "appli")

	eml := filepath.Join(dir, "cr.eml")
	writeTestFile(t, eml, []byte("From: <"+alice+">\r\nTo: <"+bob+">\r\nBcc: <"+appli+">\r\nSubject: CLI send\r\n"+
		"Date: Sat, 28 Nov 2026 10:00:00 +0100\r\nMessage-ID: <cli-1@test.mssante.fr>\r\n\r\nBonjour.\r\n"))
	common := []string{"--trust-root", root, "--data-dir", data}

	out, errOut, code := runMain(t, append([]string{"send", eml, "--account", alice, "--token-file", tokenFile,
		"--smtp", st.Submission, "--dsn"}, common...)...)
	if code != 0 {
		t.Fatalf("send: code %d, stderr %s\n%s", code, errOut, st.Logs())
	}
	var sent sendResult
	if err := json.Unmarshal([]byte(out), &sent); err != nil || len(sent.Recipients) != 2 || !sent.DSNRequested || !strings.HasPrefix(sent.TLSVersion, "TLS 1.") {
		t.Errorf("send output = %s (%v)", out, err)
	}
	if !strings.Contains(errOut, "relaxation") {
		t.Errorf("--trust-root not logged as a relaxation: %q", errOut)
	}

	// Applicative mailbox: certificate + PLAIN (ECO.1.3.1); it received the Bcc copy.
	appArgs := append([]string{"--account", appli, "--cert", certFile, "--key", keyFile, "--imap", st.IMAP}, common...)
	var lines []listLine
	for i := 0; i < 50 && len(lines) == 0; i++ {
		out, errOut, code = runMain(t, append([]string{"list"}, appArgs...)...)
		if code != 0 {
			t.Fatalf("list (cert): code %d: %s", code, errOut)
		}
		lines = parseLines(t, out)
		time.Sleep(100 * time.Millisecond)
	}
	if len(lines) != 1 || lines[0].Subject != "CLI send" || lines[0].From != alice {
		t.Fatalf("list (cert) = %+v", lines)
	}

	// The same mailbox from an [[account]] table of the configuration file: its certificate and
	// key apply; --imap overrides the table's server (a closed port here, used without --imap).
	acctFile := writeConfigFile(t, fmt.Sprintf("[[account]]\naddress = %q\ncert = %q\nkey = %q\nimap = \"127.0.0.1:1\"\n",
		appli, certFile, keyFile))
	out, errOut, code = runMain(t, append([]string{"list", "--config", acctFile, "--account", appli, "--imap", st.IMAP}, common...)...)
	if code != 0 || len(parseLines(t, out)) != 1 {
		t.Errorf("list with the [[account]] table: code %d, stderr %s, stdout %s", code, errOut, out)
	}
	_, errOut, code = runMain(t, append([]string{"list", "--config", acctFile, "--account", appli}, common...)...)
	if code != 1 || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Errorf("list with the table's server: code %d, stderr %s", code, errOut)
	}
	// A credential flag replaces the table's: a token file for an applicative mailbox is refused
	// by the server, not the table's certificate used.
	_, errOut, code = runMain(t, append([]string{"list", "--config", acctFile, "--account", appli, "--imap", st.IMAP,
		"--token-file", bobToken}, common...)...)
	if code == 0 {
		t.Errorf("list with --token-file over the table's certificate: code 0, stderr %s", errOut)
	}

	bobArgs := append([]string{"--account", bob, "--token-file", bobToken, "--imap", st.IMAP}, common...)
	out, errOut, code = runMain(t, append([]string{"list", "--limit", "5"}, bobArgs...)...)
	if code != 0 {
		t.Fatalf("list: code %d: %s", code, errOut)
	}
	lines = parseLines(t, out)
	if len(lines) != 1 {
		t.Fatalf("list = %s", out)
	}
	got := filepath.Join(dir, "got.eml")
	_, errOut, code = runMain(t, append([]string{"fetch", "--uid", strconv.Itoa(int(lines[0].UID)), "-o", got}, bobArgs...)...)
	if code != 0 {
		t.Fatalf("fetch: code %d: %s", code, errOut)
	}
	body, err := os.ReadFile(got)
	if err != nil || !strings.Contains(string(body), "Subject: CLI send") || strings.Contains(string(body), "Bcc:") {
		t.Errorf("fetched message (%v):\n%s", err, body)
	}
	// -o - streams the message on stdout, nothing else (no file named "-", no JSON mixed in).
	out, errOut, code = runMain(t, append([]string{"fetch", "--uid", strconv.Itoa(int(lines[0].UID)), "-o", "-"}, bobArgs...)...)
	if code != 0 || out != string(body) {
		t.Errorf("fetch -o -: code %d, stderr %s, stdout %q", code, errOut, out)
	}

	// Autoconfig (ECO.1.1.9): servers of each family from the document, connection test step by
	// step, and send through the discovered server.
	acURL := serveAutoconfig(t, st)
	for _, c := range []struct {
		family string
		creds  []string
	}{{"personal", []string{"--token-file", tokenFile}}, {"applicative", []string{"--cert", certFile, "--key", keyFile}}} {
		addr := alice
		if c.family == "applicative" {
			addr = appli
		}
		args := append(append([]string{"autoconfig", addr, "--autoconfig-url", acURL, "--test-connection"}, c.creds...), common...)
		out, errOut, code = runMain(t, args...)
		var res autoconfigResult
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
			t.Fatalf("autoconfig %s: code %d, stderr %s, out %s", c.family, code, errOut, out)
		}
		if res.Family != c.family || len(res.Servers) != 2 || len(res.Test) != 10 || res.Servers[1].Username != addr {
			t.Errorf("autoconfig %s = %s", c.family, out)
		}
		for _, s := range res.Test {
			if !s.OK {
				t.Errorf("autoconfig %s: step %+v", c.family, s)
			}
		}
	}
	// Discovery alone works before `trust update` (public roots), and says so.
	out, errOut, code = runMain(t, "autoconfig", bob, "--autoconfig-url", acURL, "--data-dir", filepath.Join(dir, "empty"))
	if code != 0 || !strings.Contains(out, `"socket_type": "STARTTLS"`) || !strings.Contains(errOut, "anchors unavailable") {
		t.Errorf("autoconfig without anchors: code %d, out %s, stderr %s", code, out, errOut)
	}
	out, errOut, code = runMain(t, append([]string{"send", eml, "--account", alice, "--token-file", tokenFile,
		"--autoconfig-url", acURL}, common...)...)
	if code != 0 || !strings.Contains(out, st.Submission) {
		t.Errorf("send through autoconfig: code %d, %s %s", code, out, errOut)
	}

	// A server without STARTTLS: refused, exit 1, the reason on stderr.
	_, errOut, code = runMain(t, append([]string{"send", eml, "--account", alice, "--token-file", tokenFile,
		"--smtp", st.SubmissionNoTLS}, common...)...)
	if code != 1 || !strings.Contains(errOut, "STARTTLS") {
		t.Errorf("send to a server without STARTTLS: code %d, stderr %q", code, errOut)
	}

	// --server-name is the name the certificate is checked against (a server reached by address).
	_, errOut, code = runMain(t, append([]string{"list", "--account", bob, "--token-file", bobToken, "--imap", st.IMAP,
		"--server-name", "imap.ailleurs.test"}, common...)...)
	if code != 1 || !strings.Contains(errOut, "server name mismatch") || !strings.Contains(errOut, "imap.ailleurs.test") {
		t.Errorf("list with a wrong --server-name: code %d, stderr %q", code, errOut)
	}
	_, errOut, code = runMain(t, append([]string{"list", "--account", bob, "--token-file", bobToken, "--imap", st.IMAP,
		"--server-name", "localhost"}, common...)...)
	if code != 0 {
		t.Errorf("list with --server-name localhost: code %d, stderr %q", code, errOut)
	}

	// A server certificate from another CA (ECO.1.1.5): refused, the rule named on stderr.
	foreign := filepath.Join(dir, "foreign.pem")
	writeTestFile(t, foreign, testpki.New(t, testpki.Options{Name: "FOREIGN"}).RootPEM())
	_, errOut, code = runMain(t, "list", "--account", bob, "--token-file", bobToken, "--imap", st.IMAP,
		"--trust-root", foreign, "--data-dir", data)
	if code != 1 || !strings.Contains(errOut, "refused by rule ECO.1.1") {
		t.Errorf("list with a foreign trust root: code %d, stderr %q", code, errOut)
	}

	// ECO.1.2.5: no token in the data directory nor in the audit export.
	out, _, code = runMain(t, "audit", "export", "--data-dir", data)
	if code != 0 || !strings.Contains(out, `"action":"send"`) || !strings.Contains(out, `"action":"read"`) {
		t.Errorf("audit export (code %d) lacks send/read events:\n%s", code, out)
	}
	secret := token[strings.LastIndexByte(token, '.')+1:]
	if strings.Contains(out, secret) {
		t.Errorf("token in the audit export")
	}
	err = filepath.Walk(data, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), secret) {
			t.Errorf("token found in %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// ECO.1.1.7: revocation endpoints down, the CRL cached by the previous runs serves; back up,
	// a server certificate revoked since the last run is refused at once (each run downloads).
	pki.SetRevocationDown(true)
	_, errOut, code = runMain(t, append([]string{"list", "--limit", "1"}, bobArgs...)...)
	if code != 0 {
		t.Errorf("list with the revocation endpoints down and a cached CRL: code %d, stderr %q", code, errOut)
	}
	pki.SetRevocationDown(false)
	pki.Revoke(st.ServerCert)
	_, errOut, code = runMain(t, append([]string{"list", "--limit", "1"}, bobArgs...)...)
	if code != 1 || !strings.Contains(errOut, "ECO.1.1.6 revoked") {
		t.Errorf("list after the server certificate was revoked: code %d, stderr %q", code, errOut)
	}
}

// serveAutoconfig serves a Thunderbird autoconfig document for the stack on a loopback HTTP server
// and returns its base URL.
func serveAutoconfig(t *testing.T, st *peertest.Stack) string {
	imapHost, imapPort, _ := net.SplitHostPort(st.IMAP)
	smtpHost, smtpPort, _ := net.SplitHostPort(st.Submission)
	server := func(kind, typ, host, port, auth string) string {
		return fmt.Sprintf(`<%[1]s type="%[2]s"><hostname>%[3]s</hostname><port>%[4]s</port>`+
			`<socketType>STARTTLS</socketType><authentication>%[5]s</authentication>`+
			`<username>%%EMAILADDRESS%%</username></%[1]s>`, kind, typ, host, port, auth)
	}
	// Usual operator documents list POP3, implicit TLS (SSL) and cleartext entries too, often
	// first: the STARTTLS ones must still be chosen (found by acceptance QA).
	other := func(kind, typ, port, socket, auth string) string {
		return fmt.Sprintf(`<%[1]s type="%[2]s"><hostname>localhost</hostname><port>%[3]s</port>`+
			`<socketType>%[4]s</socketType><authentication>%[5]s</authentication>`+
			`<username>%%EMAILLOCALPART%%</username></%[1]s>`, kind, typ, port, socket, auth)
	}
	doc := `<?xml version="1.0" encoding="UTF-8"?><clientConfig version="1.1"><emailProvider id="test.mssante.fr">` +
		`<domain>test.mssante.fr</domain><displayName>Opérateur de test</displayName>` +
		other("incomingServer", "pop3", "995", "SSL", "OAuth2") +
		other("incomingServer", "imap", "993", "SSL", "OAuth2") +
		other("incomingServer", "imap", "993", "SSL", "TLS-client-cert") +
		other("incomingServer", "imap", imapPort, "plain", "password-cleartext") +
		other("outgoingServer", "smtp", "465", "SSL", "OAuth2") +
		other("outgoingServer", "smtp", "465", "SSL", "TLS-client-cert") +
		server("incomingServer", "imap", imapHost, imapPort, "OAuth2") +
		server("incomingServer", "imap", imapHost, imapPort, "TLS-client-cert") +
		server("outgoingServer", "smtp", smtpHost, smtpPort, "OAuth2") +
		server("outgoingServer", "smtp", smtpHost, smtpPort, "TLS-client-cert") +
		`<unknownElement>ignored</unknownElement></emailProvider></clientConfig>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/mail/config-v1.1.xml" || r.URL.Query().Get("emailaddress") == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(doc))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func parseLines(t *testing.T, out string) []listLine {
	t.Helper()
	var lines []listLine
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l listLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("list line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
