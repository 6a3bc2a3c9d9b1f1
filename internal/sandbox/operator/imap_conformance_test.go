package operator_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/sandbox/operator"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/trust"
)

// IMAP conformance (issue 11, item 1): the same raw IMAP dialogues run against the private
// Dovecot of internal/peertest (an operator's Dovecot 2.3, Debian 12) and the sandbox operator,
// and must get the same kind of answers. The checks speak the protocol byte by byte because they
// probe what a well-behaved client never sends (broken quoted strings, 70 KB lines, bytes that
// are not UTF-8) and what real clients use beyond lps (ID, QUOTA, CONDSTORE, OAUTHBEARER).

// imapTarget is an IMAP server under test.
type imapTarget struct {
	name string
	addr string
	tls  *tls.Config
	// user returns a fresh mailbox address and a bearer token for it.
	user func(t *testing.T) (addr, token string)
	// seed stores a message in a folder of addr, bypassing IMAP.
	seed func(t *testing.T, addr, folder string, msg []byte)
	// tokens are those of the users login created.
	tokens map[string]string
}

var userSeq atomic.Int64

// quotaKB is the storage quota of the mailboxes of both targets.
const quotaKB = 100

func sandboxIMAPTarget(t *testing.T) *imapTarget {
	w := newWorld(t)
	w.opts.QuotaStorage = quotaKB * 1024
	w.restart()
	return &imapTarget{name: "sandbox", addr: w.op.IMAPAddr(), tls: w.clientTLS(), tokens: map[string]string{},
		user: func(t *testing.T) (string, string) {
			n := userSeq.Add(1)
			addr := fmt.Sprintf("conf%d@sandbox.mssante.test", n)
			id := fmt.Sprintf("8100000%05d", n)
			if err := w.op.AddAccount(operator.Account{Address: addr, Kind: operator.KindPersonal, NationalIDs: []string{id}}); err != nil {
				t.Fatal(err)
			}
			return addr, w.tokens.issue(id, time.Hour)
		},
		seed: func(t *testing.T, addr, folder string, msg []byte) {
			if _, err := w.op.Append(addr, folder, msg); err != nil {
				t.Fatal(err)
			}
		}}
}

func dovecotIMAPTarget(t *testing.T) *imapTarget {
	st := peertest.Start(t, peertest.Options{PKI: sharedPKI(t), NoPostfix: true, QuotaKB: quotaKB})
	w := &world{pki: sharedPKI(t)}
	return &imapTarget{name: "dovecot", addr: st.IMAP, tls: w.clientTLS(), tokens: map[string]string{},
		user: func(t *testing.T) (string, string) {
			addr := fmt.Sprintf("conf%d@%s", userSeq.Add(1), st.Domain)
			return addr, st.Token(addr, time.Hour)
		},
		seed: func(t *testing.T, addr, folder string, msg []byte) { st.Deliver(addr, folder, msg) }}
}

// eachIMAPTarget runs f against Dovecot (skipped without it, failing under
// MSSANTE_REQUIRE_PEERS=1) and the sandbox operator.
func eachIMAPTarget(t *testing.T, f func(t *testing.T, tg *imapTarget)) {
	for _, mk := range []struct {
		name string
		new  func(t *testing.T) *imapTarget
	}{{"dovecot", dovecotIMAPTarget}, {"sandbox", sandboxIMAPTarget}} {
		t.Run(mk.name, func(t *testing.T) { f(t, mk.new(t)) })
	}
}

// rawIMAP is one raw IMAP connection.
type rawIMAP struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (tg *imapTarget) dial(t *testing.T) *rawIMAP {
	t.Helper()
	c, err := net.DialTimeout("tcp", tg.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	s := &rawIMAP{t: t, c: c, r: bufio.NewReader(c)}
	s.deadline()
	if g := s.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("%s greeting %q", tg.name, g)
	}
	return s
}

func (s *rawIMAP) deadline() { _ = s.c.SetDeadline(time.Now().Add(10 * time.Second)) }

// starttls runs STARTTLS and returns the session on TLS.
func (s *rawIMAP) starttls(cfg *tls.Config) {
	s.t.Helper()
	if resp := s.cmd("s0 STARTTLS"); !strings.HasPrefix(lastLine(resp), "s0 OK") {
		s.t.Fatalf("STARTTLS: %q", resp)
	}
	tc := tls.Client(s.c, cfg)
	if err := tc.Handshake(); err != nil {
		s.t.Fatalf("handshake: %v", err)
	}
	s.c, s.r = tc, bufio.NewReader(tc)
	s.deadline()
}

// login opens a TLS session authenticated with XOAUTH2 as a fresh user; it returns the session
// and the address.
func (tg *imapTarget) login(t *testing.T) (*rawIMAP, string) {
	t.Helper()
	addr, tok := tg.user(t)
	tg.tokens[addr] = tok
	return tg.loginAs(t, addr)
}

// loginAs opens another session of a user that login created.
func (tg *imapTarget) loginAs(t *testing.T, addr string) (*rawIMAP, string) {
	t.Helper()
	tok := tg.tokens[addr]
	s := tg.dial(t)
	s.starttls(tg.tls)
	ir := base64.StdEncoding.EncodeToString([]byte("user=" + addr + "\x01auth=Bearer " + tok + "\x01\x01"))
	if resp := s.cmd("s1 AUTHENTICATE XOAUTH2 " + ir); !strings.HasPrefix(lastLine(resp), "s1 OK") {
		t.Fatalf("%s login: %q", tg.name, resp)
	}
	return s, addr
}

// line reads one line (CRLF included).
func (s *rawIMAP) line() string {
	s.t.Helper()
	l, err := s.r.ReadString('\n')
	if err != nil {
		s.t.Fatalf("read: %v (got %q)", err, l)
	}
	return l
}

// send writes raw bytes.
func (s *rawIMAP) send(b string) {
	s.t.Helper()
	s.deadline()
	if _, err := io.WriteString(s.c, b); err != nil {
		s.t.Fatalf("write: %v", err)
	}
}

// untilTag reads lines until the tagged answer of tag, or until the connection ends; it returns
// everything read.
func (s *rawIMAP) untilTag(tag string) string {
	s.t.Helper()
	var b strings.Builder
	for {
		l, err := s.r.ReadString('\n')
		b.WriteString(l)
		if err != nil || strings.HasPrefix(l, tag+" ") {
			return b.String()
		}
	}
}

// cmd sends a command line (tag first) and returns the answer up to its tagged line.
func (s *rawIMAP) cmd(line string) string {
	s.t.Helper()
	s.send(line + "\r\n")
	tag, _, _ := strings.Cut(line, " ")
	return s.untilTag(tag)
}

// alive checks that the session still answers a NOOP.
func (s *rawIMAP) alive(what string) {
	s.t.Helper()
	if resp := s.cmd("z NOOP"); !strings.HasPrefix(lastLine(resp), "z OK") {
		s.t.Errorf("after %s, NOOP answered %q: the connection did not go on", what, resp)
	}
}

func lastLine(resp string) string {
	lines := strings.Split(strings.TrimRight(resp, "\r\n"), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// status returns the status word (OK, NO, BAD, BYE) of a tagged or untagged line.
func status(line string) string {
	f := strings.Fields(line)
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

func seedMessage(subject, extraHeader, body string) []byte {
	return []byte("From: <alice.martin@sandbox.mssante.test>\r\nTo: <bob.durand@sandbox.mssante.test>\r\n" +
		"Subject: " + subject + "\r\nDate: Mon, 02 Nov 2026 10:00:00 +0100\r\nMessage-ID: <" + subject + "@test>\r\n" +
		extraHeader + "\r\n" + body)
}

// Malformed input gets BAD (or NO for a mailbox name) promptly and the session goes on, as with
// Dovecot: a quoted string broken by the line end, an empty line, an invalid tag, bytes that are
// not UTF-8, a 70 KB command after login ("Too long argument"), an unknown command. Before login,
// a 70 KB line ends the connection with "* BYE", as Dovecot's imap-login does.
func TestConformanceIMAP_malformedInput(t *testing.T) {
	eachIMAPTarget(t, func(t *testing.T, tg *imapTarget) {
		s, addr := tg.login(t)
		tg.seed(t, addr, "INBOX", seedMessage("malformed", "", "Bonjour.\r\n"))
		s.cmd("a0 SELECT INBOX")
		for _, c := range []struct{ line, tag, want string }{
			{"f STORE 1 +FLAGS (\xff)", "f", "BAD"},
			{"f2 FETCH 1 (FLAGS)", "f2", "OK"},
			{"g SELECT \"INBOX", "g", "BAD"},
			{"", "*", "BAD"},
			{"\xff\xfe x", "*", "BAD"},
			{"h SELECT \"\xff\xfe\"", "h", "NO"},
			{"h2 LIST \"\" \"\xff*\"", "h2", "OK"},
			{"h3 SEARCH SUBJECT \"\xff\"", "h3", "BAD"},
			{"l FOO", "l", "BAD"},
			{"m SELECT " + strings.Repeat("a", 70*1024), "m", "BAD"},
		} {
			s.send(c.line + "\r\n")
			resp := s.untilTag(c.tag)
			if st := status(lastLine(resp)); st != c.want {
				t.Errorf("%.40q answered %q, want %s", c.line, resp, c.want)
			}
			s.alive(fmt.Sprintf("%.40q", c.line))
		}
		if resp := s.cmd("i ID NIL"); !strings.HasPrefix(resp, "* ID (") || status(lastLine(resp)) != "OK" {
			t.Errorf("ID answered %q", resp) // RFC 2971
		}

		u := tg.dial(t)
		if resp := u.cmd("a FOO"); status(lastLine(resp)) != "BAD" {
			t.Errorf("unknown command before login answered %q", resp)
		}
		u.alive("an unknown command before login")
		if resp := u.cmd("b CAPABILITY"); !strings.Contains(resp, " ID") || !strings.Contains(resp, "STARTTLS") {
			t.Errorf("capabilities before login %q lack ID or STARTTLS", resp)
		}
		u.send("c LOGIN " + strings.Repeat("a", 70*1024) + " x\r\n")
		if resp := u.untilTag("c"); !strings.HasPrefix(resp, "* BYE") {
			t.Errorf("70 KB line before login answered %q, want * BYE", resp)
		}
		if l, err := u.r.ReadString('\n'); err == nil {
			t.Errorf("after BYE the connection goes on: %q", l)
		}
	})
}

// EXAMINE opens read-only: no permanent flag (RFC 3501 §6.3.2), [READ-ONLY].
func TestConformanceIMAP_examineReadOnly(t *testing.T) {
	eachIMAPTarget(t, func(t *testing.T, tg *imapTarget) {
		s, addr := tg.login(t)
		tg.seed(t, addr, "INBOX", seedMessage("examine", "", "Bonjour.\r\n"))
		resp := s.cmd("b EXAMINE INBOX")
		if !strings.Contains(resp, "[PERMANENTFLAGS ()]") || !strings.Contains(lastLine(resp), "OK [READ-ONLY]") {
			t.Errorf("EXAMINE answered %q", resp)
		}
		resp = s.cmd("c SELECT INBOX")
		_, perm, _ := strings.Cut(resp, "[PERMANENTFLAGS (")
		perm, _, _ = strings.Cut(perm, ")]")
		if !strings.Contains(perm, `\Seen`) || !strings.Contains(perm, `\Deleted`) || !strings.Contains(perm, `\*`) ||
			!strings.Contains(lastLine(resp), "OK [READ-WRITE]") {
			t.Errorf("SELECT answered %q", resp)
		}
	})
}

// A message sequence number beyond the mailbox is a client error for FETCH, STORE and COPY
// (Dovecot: "BAD Error in IMAP command FETCH: Invalid messageset"); a UID beyond it matches
// nothing (OK), and so does SEARCH.
func TestConformanceIMAP_seqBeyondMailbox(t *testing.T) {
	eachIMAPTarget(t, func(t *testing.T, tg *imapTarget) {
		s, addr := tg.login(t)
		for i := range 3 {
			tg.seed(t, addr, "INBOX", seedMessage(fmt.Sprintf("seq%d", i), "", "Bonjour.\r\n"))
		}
		s.cmd("a SELECT INBOX")
		for _, c := range []struct{ line, want string }{
			{"b FETCH 99 FLAGS", "BAD"},
			{"c FETCH 3:99 FLAGS", "BAD"},
			{`d STORE 99 +FLAGS (\Seen)`, "BAD"},
			{"e COPY 4 Trash", "BAD"},
			{"f UID FETCH 99 FLAGS", "OK"},
			{"g SEARCH 99", "OK"},
			{"h FETCH 1:* FLAGS", "OK"},
			{"i FETCH 3 FLAGS", "OK"},
		} {
			if resp := s.cmd(c.line); status(lastLine(resp)) != c.want {
				t.Errorf("%s answered %q, want %s", c.line, resp, c.want)
			}
		}
	})
}

// A text part without Content-Type parameters (or without Content-Type at all) has the charset
// us-ascii in BODYSTRUCTURE (RFC 2045 §5.2, RFC 3501 §7.4.2), at the top and inside multiparts.
func TestConformanceIMAP_bodystructureDefaultCharset(t *testing.T) {
	eachIMAPTarget(t, func(t *testing.T, tg *imapTarget) {
		s, addr := tg.login(t)
		tg.seed(t, addr, "INBOX", seedMessage("nocontenttype", "", "Bonjour.\r\n"))
		tg.seed(t, addr, "INBOX", seedMessage("html", "MIME-Version: 1.0\r\nContent-Type: text/html\r\n", "<p>Bonjour.</p>\r\n"))
		tg.seed(t, addr, "INBOX", seedMessage("multi", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n",
			"--b\r\n\r\nCompte rendu.\r\n--b\r\nContent-Type: application/pdf\r\n\r\nxx\r\n--b--\r\n"))
		s.cmd("a SELECT INBOX")
		resp := s.cmd("b FETCH 1:3 BODYSTRUCTURE")
		for _, want := range []string{
			`* 1 FETCH (BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 1`,
			`* 2 FETCH (BODYSTRUCTURE ("text" "html" ("charset" "us-ascii") NIL NIL "7bit"`,
			`* 3 FETCH (BODYSTRUCTURE (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit"`,
			`("application" "pdf" NIL NIL NIL "7bit" 2`,
		} {
			if !strings.Contains(resp, want) {
				t.Errorf("BODYSTRUCTURE lacks %s:\n%s", want, resp)
			}
		}
	})
}

// CREATE Archives/2026 makes Archives appear in LIST as a \Noselect parent with children (RFC
// 3501 §6.3.3 and Dovecot); creating it later makes it a folder.
func TestConformanceIMAP_createParent(t *testing.T) {
	eachIMAPTarget(t, func(t *testing.T, tg *imapTarget) {
		s, _ := tg.login(t)
		if resp := s.cmd("a CREATE Archives/2026"); status(lastLine(resp)) != "OK" {
			t.Fatalf("CREATE answered %q", resp)
		}
		resp := listNames(s.cmd(`b LIST "" *`))
		for _, want := range []string{`* LIST (\Noselect \HasChildren) "/" Archives` + "\r\n", `* LIST (\HasNoChildren) "/" Archives/2026` + "\r\n",
			`* LIST (\HasNoChildren) "/" INBOX` + "\r\n"} {
			if !strings.Contains(resp, want) {
				t.Errorf("LIST lacks %q:\n%s", want, resp)
			}
		}
		if resp := s.cmd("c SELECT Archives"); status(lastLine(resp)) != "NO" {
			t.Errorf("SELECT of the \\Noselect parent answered %q", resp)
		}
		if resp := s.cmd("d CREATE Archives"); status(lastLine(resp)) != "OK" {
			t.Fatalf("CREATE of the parent answered %q", resp)
		}
		if resp := listNames(s.cmd(`e LIST "" Archives`)); !strings.Contains(resp, `* LIST (\HasChildren) "/" Archives`+"\r\n") {
			t.Errorf("LIST after CREATE of the parent:\n%s", resp)
		}
	})
}

// listNames writes the mailbox names of LIST responses as atoms (a server may quote any).
func listNames(resp string) string {
	lines := strings.SplitAfter(resp, "\r\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "* LIST ") && strings.HasSuffix(l, "\"\r\n") {
			if j := strings.LastIndex(l[:len(l)-3], " \""); j > 0 && !strings.ContainsAny(l[j+2:len(l)-3], " \\\"") {
				lines[i] = l[:j+1] + l[j+2:len(l)-3] + "\r\n"
			}
		}
	}
	return strings.Join(lines, "")
}

// RFC 7628 OAUTHBEARER, which msmtp and curl prefer to XOAUTH2, is offered after STARTTLS and
// accepts the same tokens; a refused token gets the JSON challenge, which the client answers
// with ^A, then NO.
func TestConformanceIMAP_oauthBearer(t *testing.T) {
	eachIMAPTarget(t, func(t *testing.T, tg *imapTarget) {
		addr, tok := tg.user(t)
		s := tg.dial(t)
		s.starttls(tg.tls)
		if resp := s.cmd("a CAPABILITY"); !strings.Contains(resp, " AUTH=OAUTHBEARER") {
			t.Errorf("capabilities under TLS lack AUTH=OAUTHBEARER: %q", resp)
		}
		bearer := func(tok string) string {
			return base64.StdEncoding.EncodeToString([]byte("n,a=" + addr + ",\x01host=localhost\x01port=143\x01auth=Bearer " + tok + "\x01\x01"))
		}
		s.send("b AUTHENTICATE OAUTHBEARER " + bearer(tok+"x") + "\r\n")
		if l := s.line(); !strings.HasPrefix(l, "+ ") {
			t.Fatalf("refused token: %q, want the JSON challenge", l)
		} else if js, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(l[2:])); !strings.Contains(string(js), `"status":`) {
			t.Errorf("challenge %q", js)
		}
		s.send(base64.StdEncoding.EncodeToString([]byte{1}) + "\r\n")
		if resp := s.untilTag("b"); status(lastLine(resp)) != "NO" {
			t.Errorf("after the challenge: %q", resp)
		}
		if resp := s.cmd("c AUTHENTICATE OAUTHBEARER " + bearer(tok)); status(lastLine(resp)) != "OK" {
			t.Errorf("OAUTHBEARER login: %q", resp)
		}
		s.alive("OAUTHBEARER login")
	})
}

// modSeqOf returns the number after key (e.g. "HIGHESTMODSEQ ", "MODSEQ (") in resp, or 0.
func modSeqOf(resp, key string) uint64 {
	_, rest, ok := strings.Cut(resp, key)
	if !ok {
		return 0
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	n, _ := strconv.ParseUint(rest[:end], 10, 64)
	return n
}

// RFC 7162 CONDSTORE: HIGHESTMODSEQ on SELECT (CONDSTORE), the MODSEQ fetch item, the
// CHANGEDSINCE fetch modifier and STORE (UNCHANGEDSINCE) with [MODIFIED].
func TestConformanceIMAP_condstore(t *testing.T) {
	eachIMAPTarget(t, func(t *testing.T, tg *imapTarget) {
		s, addr := tg.login(t)
		for i := range 3 {
			tg.seed(t, addr, "INBOX", seedMessage(fmt.Sprintf("cs%d", i), "", "Bonjour.\r\n"))
		}
		if resp := s.cmd("a CAPABILITY"); !strings.Contains(resp, " CONDSTORE") {
			t.Fatalf("no CONDSTORE in %q", resp)
		}
		resp := s.cmd("b SELECT INBOX (CONDSTORE)")
		high := modSeqOf(resp, "[HIGHESTMODSEQ ")
		if high == 0 || status(lastLine(resp)) != "OK" {
			t.Fatalf("SELECT (CONDSTORE) answered %q", resp)
		}
		resp = s.cmd("c FETCH 1:* (UID FLAGS MODSEQ)")
		if n := strings.Count(resp, "MODSEQ ("); n != 3 {
			t.Errorf("FETCH MODSEQ gave %d MODSEQ items:\n%s", n, resp)
		}
		resp = s.cmd(`d STORE 2 +FLAGS (\Seen)`)
		if m := modSeqOf(resp, "MODSEQ ("); m <= high {
			t.Errorf("STORE under CONDSTORE: MODSEQ %d, HIGHESTMODSEQ was %d:\n%s", m, high, resp)
		}
		resp = s.cmd(fmt.Sprintf("e UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", high))
		if n := strings.Count(resp, " FETCH ("); n != 1 || !strings.Contains(resp, `\Seen`) || !strings.Contains(resp, "MODSEQ (") {
			t.Errorf("CHANGEDSINCE %d answered:\n%s", high, resp)
		}
		resp = s.cmd(fmt.Sprintf(`f STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS (\Flagged)`, high))
		if !strings.HasPrefix(lastLine(resp), "f OK [MODIFIED 2]") {
			t.Errorf("STORE (UNCHANGEDSINCE %d) answered:\n%s", high, resp)
		}
		if resp := s.cmd("g FETCH 2 (FLAGS)"); strings.Contains(resp, `\Flagged`) {
			t.Errorf("a message changed since UNCHANGEDSINCE was changed: %q", resp)
		}
		resp = s.cmd("h EXAMINE INBOX")
		if h2 := modSeqOf(resp, "[HIGHESTMODSEQ "); h2 <= high {
			t.Errorf("HIGHESTMODSEQ after changes %d, was %d:\n%s", h2, high, resp)
		}
		if resp := s.cmd("h2 ENABLE CONDSTORE"); !strings.Contains(resp, "* ENABLED CONDSTORE\r\n") || status(lastLine(resp)) != "OK" {
			t.Errorf("ENABLE CONDSTORE answered %q", resp)
		}
		if resp := s.cmd("h3 STATUS INBOX (MESSAGES HIGHESTMODSEQ)"); modSeqOf(resp, "HIGHESTMODSEQ ") <= high ||
			!strings.Contains(resp, "MESSAGES 3") || status(lastLine(resp)) != "OK" {
			t.Errorf("STATUS HIGHESTMODSEQ answered %q", resp)
		}
		// Another session changes a flag: this one, CONDSTORE enabled, is told with MODSEQ.
		o, _ := tg.loginAs(t, addr)
		o.cmd("o1 SELECT INBOX")
		o.cmd(`o2 STORE 3 +FLAGS (\Answered)`)
		if resp := s.cmd("h4 NOOP"); !strings.Contains(resp, "* 3 FETCH (") || modSeqOf(resp, "MODSEQ (") <= high {
			t.Errorf("another session's flag change: NOOP answered %q, want a FETCH with MODSEQ", resp)
		}
		// SEARCH MODSEQ: the messages changed since (1 flagged, 2 seen, 3 answered), with the highest
		// mod-sequence among them.
		resp = s.cmd(fmt.Sprintf("h5 SEARCH MODSEQ %d", high+1))
		if !strings.HasPrefix(resp, "* SEARCH 1 2 3 (MODSEQ ") || modSeqOf(resp, "(MODSEQ ") <= high || status(lastLine(resp)) != "OK" {
			t.Errorf("SEARCH MODSEQ %d answered %q", high+1, resp)
		}
		if resp := s.cmd(fmt.Sprintf("h6 UID SEARCH UNSEEN MODSEQ %d", high+1)); !strings.HasPrefix(resp, "* SEARCH 1 3 (MODSEQ ") {
			t.Errorf("UID SEARCH UNSEEN MODSEQ answered %q", resp)
		}
		if resp := s.cmd(`h7 SEARCH SUBJECT "modseq" OR SEEN UNSEEN`); !strings.HasPrefix(resp, "* SEARCH\r\n") || status(lastLine(resp)) != "OK" {
			t.Errorf("a SEARCH naming modseq in a string answered %q", resp)
		}
		if resp := s.cmd("i FETCH 1 (FLAGS) (VANISHED)"); status(lastLine(resp)) != "BAD" {
			t.Errorf("an unknown FETCH modifier answered %q", resp)
		}
	})
}

// lpsClient opens an lps IMAP session on tg for addr with a static token.
func (tg *imapTarget) lpsClient(t *testing.T, addr, tok string, trace io.Writer) *lps.IMAPClient {
	t.Helper()
	pki := sharedPKI(t)
	pol, err := trust.New(trust.Options{ExtraRoots: []*x509.Certificate{pki.Root.Cert},
		OrgIntermediates: []*x509.Certificate{pki.Org.Cert}})
	if err != nil {
		t.Fatal(err)
	}
	auth := lps.Auth{Method: lps.AuthXOAUTH2, Address: addr,
		Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return tok, nil })}
	cl, err := lps.DialIMAP(ctxT(t), ep(t, tg.addr), auth, &lps.Options{TLS: pol.ClientConfig("", nil),
		ClassifyTLSError: trust.ClassifyHandshakeError, Trace: trace})
	if err != nil {
		t.Fatalf("DialIMAP %s: %v", tg.name, err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// ECO.1.0.2: lps.IMAPClient.Resync brings a mailbox up to date incrementally with CONDSTORE
// (CHANGEDSINCE and one UID SEARCH) on the sandbox as on Dovecot: exactly the messages whose
// flags changed in another session and the new one, exactly the expunged UIDs.
func TestConformanceIMAP_resyncCondstore(t *testing.T) {
	eachIMAPTarget(t, func(t *testing.T, tg *imapTarget) {
		ctx := ctxT(t)
		addr, tok := tg.user(t)
		for _, s := range []string{"R1", "R2", "R3", "R4"} {
			tg.seed(t, addr, "INBOX", seedMessage(s, "", "Bonjour.\r\n"))
		}
		first := tg.lpsClient(t, addr, tok, nil)
		if !first.Capable("CONDSTORE") {
			t.Fatalf("%s does not offer CONDSTORE", tg.name)
		}
		state := lpsState(t, first)
		if len(state.UIDs) != 4 || state.HighestModSeq == 0 {
			t.Fatalf("state %+v, want 4 messages and a HIGHESTMODSEQ", state)
		}
		_ = first.Close()

		other := tg.lpsClient(t, addr, tok, nil)
		if _, err := other.Select(ctx, "INBOX"); err != nil {
			t.Fatal(err)
		}
		seen, gone, mdn := state.UIDs[0], state.UIDs[1], state.UIDs[3]
		if err := other.SetFlags(ctx, []uint32{seen}, lps.FlagsAdd, lps.FlagSeen); err != nil {
			t.Fatal(err)
		}
		if err := other.SetFlags(ctx, []uint32{mdn}, lps.FlagsAdd, lps.FlagMDNSent); err != nil {
			t.Fatal(err)
		}
		if err := other.Delete(ctx, []uint32{gone}); err != nil {
			t.Fatal(err)
		}
		tg.seed(t, addr, "INBOX", seedMessage("R5", "", "Bonjour.\r\n"))
		now := lpsState(t, other)
		added := now.UIDs[len(now.UIDs)-1]

		var trace bytes.Buffer
		back := tg.lpsClient(t, addr, tok, &trace)
		res, err := back.Resync(ctx, "INBOX", state)
		if err != nil {
			t.Fatalf("Resync: %v", err)
		}
		if res.Reset || res.Full {
			t.Errorf("Reset=%t Full=%t, want an incremental answer", res.Reset, res.Full)
		}
		var changed []uint32
		for _, c := range res.Changed {
			changed = append(changed, c.UID)
		}
		if want := []uint32{seen, mdn, added}; !slices.Equal(changed, want) {
			t.Errorf("Changed UIDs = %v, want %v", changed, want)
		}
		if !slices.Equal(res.Vanished, []uint32{gone}) {
			t.Errorf("Vanished = %v, want [%d]", res.Vanished, gone)
		}
		if res.HighestModSeq <= state.HighestModSeq || res.HighestModSeq != now.HighestModSeq {
			t.Errorf("HighestModSeq = %d, was %d, other session sees %d", res.HighestModSeq, state.HighestModSeq, now.HighestModSeq)
		}
		if tr := trace.String(); !strings.Contains(tr, "(CHANGEDSINCE ") || !strings.Contains(tr, "UID SEARCH UID ") {
			t.Errorf("trace lacks CHANGEDSINCE or UID SEARCH UID:\n%s", tr)
		}
		again, err := back.Resync(ctx, "INBOX", res.Apply(state))
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Changed) != 0 || len(again.Vanished) != 0 || again.Full {
			t.Errorf("second Resync = %+v, want nothing", again)
		}
	})
}

func lpsState(t *testing.T, cl *lps.IMAPClient) lps.SyncState {
	t.Helper()
	st, err := cl.Select(ctxT(t), "INBOX")
	if err != nil {
		t.Fatalf("Select: %v", err)
	}
	uids, err := cl.Search(ctxT(t), lps.Criteria{})
	if err != nil {
		t.Fatalf("Search: %v", err)
	}
	return lps.SyncState{UIDValidity: st.UIDValidity, HighestModSeq: st.HighestModSeq, UIDs: uids}
}

// RFC 9208 QUOTA: the quota root of a folder and its STORAGE usage and limit in KiB; an APPEND
// over the quota gets NO [OVERQUOTA].
func TestConformanceIMAP_quota(t *testing.T) {
	eachIMAPTarget(t, func(t *testing.T, tg *imapTarget) {
		s, addr := tg.login(t)
		if resp := s.cmd("a CAPABILITY"); !strings.Contains(resp, " QUOTA") {
			t.Fatalf("no QUOTA in %q", resp)
		}
		tg.seed(t, addr, "INBOX", seedMessage("quota", "", strings.Repeat("Compte rendu de consultation.\r\n", 700)))
		quota := func(resp string) (used, limit uint64) {
			_, rest, _ := strings.Cut(resp, `* QUOTA "User quota" (STORAGE `)
			return modSeqOf(rest, ""), modSeqOf(rest, " ")
		}
		resp := s.cmd("b GETQUOTAROOT INBOX")
		if !strings.Contains(resp, `* QUOTAROOT INBOX "User quota"`+"\r\n") || status(lastLine(resp)) != "OK" {
			t.Errorf("GETQUOTAROOT answered %q", resp)
		}
		if used, limit := quota(resp); used < 19 || used > 22 || limit != quotaKB {
			t.Errorf("STORAGE %d of %d KiB, want about 21 of %d:\n%s", used, limit, quotaKB, resp)
		}
		if resp := s.cmd(`c GETQUOTA "User quota"`); !strings.HasPrefix(resp, `* QUOTA "User quota" (STORAGE `) || status(lastLine(resp)) != "OK" {
			t.Errorf("GETQUOTA answered %q", resp)
		}
		if resp := s.cmd("d GETQUOTAROOT Nulle-part"); !strings.Contains(resp, `"User quota"`) || status(lastLine(resp)) != "OK" {
			t.Errorf("GETQUOTAROOT of a missing folder answered %q", resp) // Dovecot: the root, OK
		}
		if resp := s.cmd(`d2 GETQUOTA "Autre"`); status(lastLine(resp)) != "NO" {
			t.Errorf("GETQUOTA of an unknown root answered %q", resp)
		}
		big := seedMessage("trop gros", "", strings.Repeat("x", 150*1024)+"\r\n")
		s.send(fmt.Sprintf("e APPEND INBOX {%d}\r\n", len(big)))
		if l := s.line(); strings.HasPrefix(l, "+") {
			s.send(string(big) + "\r\n")
			l = s.untilTag("e")
			if !strings.Contains(l, "e NO [OVERQUOTA]") {
				t.Errorf("APPEND over the quota answered %q", l)
			}
		} else if !strings.Contains(l, "e NO [OVERQUOTA]") {
			t.Errorf("APPEND over the quota answered %q", l)
		}
		s.alive("APPEND over the quota")
	})
}
