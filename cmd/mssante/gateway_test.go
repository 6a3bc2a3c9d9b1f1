package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mssante/mssante/hl7"
	"github.com/mssante/mssante/hl7/mllp"
	"github.com/mssante/mssante/internal/gateway"
	"github.com/mssante/mssante/internal/peertest"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
	"github.com/mssante/mssante/internal/testkit"
	"github.com/mssante/mssante/internal/testpki"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/message"
	"github.com/mssante/mssante/trust"
)

// The size of the crash test: go test ./cmd/mssante -run TestGateway_killed -args -gateway.docs 1000 -gateway.kills 20
var (
	gwDocs  = flag.Int("gateway.docs", 0, "documents received by the gateway in TestGateway_killed… (default 200, 30 with -short); half as many are sent")
	gwKills = flag.Int("gateway.kills", 0, "SIGKILLs of gateway processes in TestGateway_killed… (default 10, 4 with -short)")
)

const (
	gwAppli = "appli@test.mssante.fr"
	gwBob   = "bob@test.mssante.fr"
)

type gatewayPeer struct {
	st                   *peertest.Stack
	pki                  *testpki.PKI
	dir, root, cert, key string
	bin                  string
}

func newGatewayPeer(t *testing.T) *gatewayPeer {
	t.Helper()
	pki := testpki.New(t, testpki.Options{RSA: true})
	pki.ServeRevocation()
	st := peertest.Start(t, peertest.Options{PKI: pki, AppUsers: []string{gwAppli}})
	p := &gatewayPeer{st: st, pki: pki, dir: t.TempDir()}
	p.root = filepath.Join(p.dir, "root.pem")
	writeTestFile(t, p.root, pki.RootPEM())
	p.cert, p.key, _ = pki.Client("499700000000001", gwAppli).WriteFiles(t, p.dir, "appli")
	p.bin = filepath.Join(p.dir, "mssante")
	if out, err := exec.Command("go", "build", "-o", p.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	doveadm := testkit.LookPath(t, "doveadm")
	if out, err := exec.Command(doveadm, "-c", filepath.Join(st.Dir, "dovecot.conf"), "mailbox", "create", "-u", gwAppli, "Traités").CombinedOutput(); err != nil {
		t.Fatalf("doveadm mailbox create: %v\n%s", err, out)
	}
	return p
}

// imap opens a session as user (bob by token, the applicative mailbox by certificate).
func (p *gatewayPeer) imap(t *testing.T, user string) *lps.IMAPClient {
	t.Helper()
	pol, err := trust.New(trust.Options{ExtraRoots: []*x509.Certificate{p.pki.Root.Cert}, OrgIntermediates: []*x509.Certificate{p.pki.Org.Cert}})
	if err != nil {
		t.Fatal(err)
	}
	ep, _ := lps.ParseEndpoint(p.st.IMAP)
	auth := lps.Auth{Method: lps.AuthXOAUTH2, Address: user,
		Tokens: lps.TokenSourceFunc(func(context.Context) (string, error) { return p.st.Token(user, time.Hour), nil })}
	if user == gwAppli {
		leaf := p.pki.Client("499700000000001", gwAppli)
		auth = lps.Auth{Method: lps.AuthCertPlain, Address: user, Certificate: &leaf.TLS}
	}
	ic, err := lps.DialIMAP(context.Background(), ep, auth, &lps.Options{TLS: pol.ClientConfig("", nil), ClassifyTLSError: trust.ClassifyHandshakeError})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ic.Close() })
	return ic
}

// messageIDs counts the Message-IDs of folder.
func messageIDs(t *testing.T, ic *lps.IMAPClient, folder string) map[string]int {
	t.Helper()
	ctx := context.Background()
	if _, err := ic.Select(ctx, folder); err != nil {
		t.Fatal(err)
	}
	uids, err := ic.Search(ctx, lps.Criteria{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for i := 0; i < len(uids); i += 500 {
		sums, err := ic.Summaries(ctx, uids[i:min(i+500, len(uids))])
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sums {
			got[strings.Trim(s.MessageID, "<>")]++
		}
	}
	return got
}

func gwCDA(t *testing.T, tag string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "cda", "testdata", "n3-cr-biologie.xml"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Replace(b, []byte(`extension="CRBIO-2025-0310"`), []byte(`extension="`+tag+`"`), 1)
}

// gatewayProc is one `mssante gateway` process.
type gatewayProc struct {
	cmd    *exec.Cmd
	done   chan error
	url    string
	stderr *syncBuffer
}

func (p *gatewayPeer) start(t *testing.T, db, data, out, in, hl7Dir, mllpAddr, hook, secret string) *gatewayProc {
	t.Helper()
	cmd := exec.Command(p.bin, "gateway", "--listen", "127.0.0.1:0", "--account", gwAppli, "--cert", p.cert, "--key", p.key,
		"--from-label", "Laboratoire Test", "--smtp", p.st.Submission, "--imap", p.st.IMAP, "--trust-root", p.root,
		"--data-dir", data, "--db", db, "--outbox-dir", out, "--inbox-dir", in, "--hl7-dir", hl7Dir, "--mllp", mllpAddr, "--done-folder", "Traités",
		"--webhook", hook, "--webhook-secret-file", secret,
		"--poll", "100ms", "--lease", "3s", "--reidle", "1s", "--max-backoff", "1s", "--workers", "3")
	errBuf := &syncBuffer{}
	cmd.Stderr = errBuf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	gp := &gatewayProc{cmd: cmd, done: make(chan error, 1), stderr: errBuf}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	go func() { _, _ = io.Copy(io.Discard, stdout); gp.done <- cmd.Wait() }()
	var ready struct{ URL string }
	if err != nil || json.Unmarshal([]byte(line), &ready) != nil || ready.URL == "" {
		_ = cmd.Process.Kill()
		t.Fatalf("gateway did not start: %q %v\n%s", line, err, errBuf.String())
	}
	gp.url = ready.URL
	return gp
}

// Issue 13 items 1, 3, 5 and 6 (acceptance), ECO.1.3.1: `mssante gateway` as real OS processes
// (two at once on one database, SQLite file or PostgreSQL schema) killed with SIGKILL at random
// moments, against Postfix and Dovecot. Documents arrive in the applicative mailbox and drops in
// the outbox folder all along. At the end: every received document is in the inbox folder once
// (one file set per document, none half-written), its mail moved to Traités and INBOX empty, a
// webhook event for each; every drop reached bob under the Message-ID of its status file, a
// second copy only with that same Message-ID; an API send repeated with one Idempotency-Key
// across the kills is one mail.
func TestGateway_killedProcessesLoseNothing(t *testing.T) {
	nIn, kills := 200, 10
	if testing.Short() {
		nIn, kills = 30, 4
	}
	if *gwDocs > 0 {
		nIn = *gwDocs
	}
	if *gwKills > 0 {
		kills = *gwKills
	}
	nOut := max(1, nIn/2)
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.URL(t, d)
			killedGateways(t, newGatewayPeer(t), db, d, nIn, nOut, kills)
		})
	}
}

func killedGateways(t *testing.T, p *gatewayPeer, db string, d store.Dialect, nIn, nOut, maxKills int) {
	data := filepath.Join(p.dir, "data-"+string(d))
	out := filepath.Join(p.dir, "out-"+string(d))
	in := filepath.Join(p.dir, "in-"+string(d))
	hl7Dir := filepath.Join(p.dir, "hl7-"+string(d))
	for _, dir := range []string{data, out, in, hl7Dir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(p.dir, "webhook-secret")
	writeTestFile(t, secret, []byte("s3cret\n"))
	var hookMu sync.Mutex
	hookEvents := map[string]int{}
	badSig := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hookMu.Lock()
		defer hookMu.Unlock()
		if r.Header.Get(gateway.SignatureHeader) != gateway.Sign([]byte("s3cret"), body) {
			badSig++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev struct {
			EventID string `json:"event_id"`
			Type    string `json:"type"`
		}
		_ = json.Unmarshal(body, &ev)
		hookEvents[ev.EventID]++
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()

	// The record system behind --mllp: answers AA to every MDM, counts them by document.
	rs := startRecordSystem(t)

	// The key of the API, created by the CLI in the data directory the gateway uses.
	keyOut, errOut, code := runMain(t, "gateway", "key", "create", "--mailbox", gwAppli, "--data-dir", data, "--db", db)
	var key struct{ Key string }
	if code != 0 || json.Unmarshal([]byte(keyOut), &key) != nil || !strings.HasPrefix(key.Key, gateway.KeyPrefix) {
		t.Fatalf("gateway key create: %d %s %s", code, keyOut, errOut)
	}

	// Producers: mails with a document into the applicative mailbox, drops into the folder.
	inboundIDs := make([]string, nIn)
	mails := make([][]byte, nIn)
	for i := range nIn {
		c, err := message.Compose(&message.Draft{From: message.Address{Name: "Dr Bob", Addr: gwBob},
			To: []message.Address{{Addr: gwAppli}}, Text: fmt.Sprintf("Document %d.", i), CDAs: [][]byte{gwCDA(t, fmt.Sprintf("IN-%s-%d", d, i))}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		mails[i], inboundIDs[i] = c.Data, c.MessageID
	}
	stopProducers := make(chan struct{})
	var producers sync.WaitGroup
	producers.Add(2)
	go func() {
		defer producers.Done()
		for i := range nIn {
			p.st.Deliver(gwAppli, "INBOX", mails[i])
			select {
			case <-stopProducers:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	go func() {
		defer producers.Done()
		for i := range nOut {
			name := fmt.Sprintf("drop-%03d", i)
			_ = os.WriteFile(filepath.Join(out, name+".xml"), gwCDA(t, fmt.Sprintf("OUT-%s-%d", d, i)), 0o600)
			side, _ := json.Marshal(map[string]any{"to": []string{gwBob}, "body": fmt.Sprintf("Envoi %d.", i)})
			// The sidecar last, atomically (a dot name, then renamed), as the drop folder asks.
			tmp := filepath.Join(out, "."+name+".json.tmp")
			_ = os.WriteFile(tmp, side, 0o600)
			_ = os.Rename(tmp, filepath.Join(out, name+".json"))
			select {
			case <-stopProducers:
				return
			case <-time.After(40 * time.Millisecond):
			}
		}
	}()

	// The API send, repeated after each kill with the same key.
	apiBody, _ := json.Marshal(map[string]any{"to": []string{gwBob}, "body": "Par l'API.",
		"documents": []map[string]string{{"cda": base64.StdEncoding.EncodeToString(gwCDA(t, "API-"+string(d)))}}})
	apiIDs := map[string]bool{}
	post := func(url string) {
		req, _ := http.NewRequest("POST", url+"/api/v1/messages", bytes.NewReader(apiBody))
		req.Header.Set("Authorization", "Bearer "+key.Key)
		req.Header.Set("Idempotency-Key", "api-"+string(d))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return // killed meanwhile
		}
		defer resp.Body.Close()
		var s struct {
			MessageID string `json:"message_id"`
		}
		if resp.StatusCode == http.StatusAccepted && json.NewDecoder(resp.Body).Decode(&s) == nil {
			apiIDs[s.MessageID] = true
		} else if resp.StatusCode != http.StatusAccepted {
			b, _ := io.ReadAll(resp.Body)
			t.Errorf("POST /api/v1/messages: %d %s", resp.StatusCode, b)
		}
	}

	// Two processes at a time, each killed after a random 0.3–3 s, until maxKills kills.
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 13))
	var procs [2]*gatewayProc
	kills := 0
	for slot := range procs {
		procs[slot] = p.start(t, db, data, out, in, hl7Dir, rs.addr, hook.URL, secret)
	}
	post(procs[0].url)
	for kills < maxKills {
		time.Sleep(time.Duration(300+rnd.IntN(2700)) * time.Millisecond)
		slot := rnd.IntN(2)
		_ = procs[slot].cmd.Process.Signal(syscall.SIGKILL)
		<-procs[slot].done
		kills++
		procs[slot] = p.start(t, db, data, out, in, hl7Dir, rs.addr, hook.URL, secret)
		post(procs[slot].url)
	}
	producers.Wait()
	close(stopProducers)

	// Let the survivors finish: every document in the inbox folder, every drop sent.
	appIC := p.imap(t, gwAppli)
	bobIC := p.imap(t, gwBob)
	countDocs := func() (int, map[string]int) {
		ids := map[string]int{}
		n := 0
		_ = filepath.WalkDir(in, func(path string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() || !strings.HasSuffix(path, ".json") || strings.HasPrefix(de.Name(), ".tmp-") {
				return nil
			}
			b, err := os.ReadFile(path)
			var doc gateway.Document
			if err != nil || json.Unmarshal(b, &doc) != nil {
				t.Errorf("%s: unreadable (%v)", path, err)
				return nil
			}
			n++
			ids[doc.MessageID]++
			return nil
		})
		return n, ids
	}
	// The HL7 output: one MDM^T02 per file, read back with package hl7, counted by TXA-12 (the
	// CDA id's extension, IN-<dialect>-<i>).
	countMDM := func() (int, map[string]int) {
		ids := map[string]int{}
		n := 0
		ents, _ := os.ReadDir(hl7Dir)
		for _, e := range ents {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".hl7") || strings.HasPrefix(e.Name(), ".tmp-") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(hl7Dir, e.Name()))
			m, perr := hl7.Parse(b)
			if err != nil || perr != nil {
				t.Errorf("%s: unreadable (%v %v)", e.Name(), err, perr)
				continue
			}
			msh, _ := m.Segment("MSH")
			txa, _ := m.Segment("TXA")
			if typ := msh.Value(9, 1) + "^" + msh.Value(9, 2); typ != "MDM^T02" {
				t.Errorf("%s: MSH-9 %s, want MDM^T02", e.Name(), typ)
			}
			n++
			ids[txa.Value(12, 1)]++
		}
		return n, ids
	}
	deadline := time.Now().Add(5 * time.Minute)
	var got map[string]int
	for {
		n, _ := countDocs()
		nMDM, _ := countMDM()
		sent, _ := filepath.Glob(filepath.Join(out, "sent", "*.status.json"))
		got = messageIDs(t, bobIC, "INBOX")
		hookMu.Lock()
		events := len(hookEvents)
		received, acked, _ := documentEvents(hookEvents)
		hookMu.Unlock()
		// The webhook is waited for by its document events: the outbox's message events come too,
		// and counting all of them ended the wait with document events still on their way.
		if n == nIn && nMDM == nIn && rs.documents() == nIn && len(sent) == nOut && len(messageIDs(t, appIC, "INBOX")) == 0 && len(got) >= nOut+1 && received >= nIn && acked >= nIn {
			break
		}
		if time.Now().After(deadline) {
			var where []string
			for _, sub := range []string{"", "processing", "error"} {
				ents, _ := os.ReadDir(filepath.Join(out, sub))
				for _, e := range ents {
					if !e.IsDir() {
						b, _ := os.ReadFile(filepath.Join(out, sub, e.Name()))
						where = append(where, fmt.Sprintf("%s/%s %.120q", sub, e.Name(), b))
					}
				}
			}
			t.Fatalf("after %d kills: %d/%d documents in the inbox folder, %d/%d MDM in the HL7 folder, %d/%d documents over MLLP, %d/%d drops sent, %d Message-IDs at bob, %d webhook events; drops not sent: %v\n%s",
				kills, n, nIn, nMDM, nIn, rs.documents(), nIn, len(sent), nOut, len(got), events, where, procs[0].stderr.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // a late second copy would show now
	for _, gp := range procs {
		_ = gp.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-gp.done:
			if err != nil {
				t.Errorf("gateway stopped by SIGTERM: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("gateway did not stop on SIGTERM")
			_ = gp.cmd.Process.Kill()
		}
	}

	// Received: each document once in the folder, each mail once in Traités.
	n, byMsg := countDocs()
	if n != nIn {
		t.Errorf("%d documents in the inbox folder, want %d", n, nIn)
	}
	nMDM, byDoc := countMDM()
	if nMDM != nIn {
		t.Errorf("%d MDM messages in the HL7 folder, want %d", nMDM, nIn)
	}
	for i := range nIn {
		if id := fmt.Sprintf("IN-%s-%d", d, i); byDoc[id] != 1 {
			t.Errorf("document %s delivered %d times to the HL7 folder", id, byDoc[id])
		}
	}
	// Over MLLP, at least once: a gateway killed between the record system's ACK and its own
	// commit sends the MDM again, always under the document's control id (MSH-10), by which the
	// record system recognises the repeat.
	mllpCopies := 0
	rs.mu.Lock()
	for i := range nIn {
		id := fmt.Sprintf("IN-%s-%d", d, i)
		ctl := rs.control[id]
		if len(ctl) == 0 {
			t.Errorf("document %s never reached the record system over MLLP", id)
		}
		for _, c := range ctl[1:] {
			if c != ctl[0] {
				t.Errorf("document %s sent over MLLP under control ids %v", id, ctl)
				break
			}
		}
		mllpCopies += max(len(ctl)-1, 0)
	}
	rs.mu.Unlock()
	done := messageIDs(t, appIC, "Traités")
	for _, id := range inboundIDs {
		if byMsg[id] != 1 {
			t.Errorf("document of %s delivered %d times to the folder", id, byMsg[id])
		}
		if done[id] != 1 {
			t.Errorf("mail %s is %d times in Traités", id, done[id])
		}
	}
	if left := messageIDs(t, appIC, "INBOX"); len(left) != 0 {
		t.Errorf("INBOX still holds %v", left)
	}
	// Sent: every drop under its status file's Message-ID; second copies only under that id.
	want := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(out, "sent", "*.status.json"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var st gateway.DropStatus
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		want[st.MessageID] = true
	}
	if len(apiIDs) != 1 {
		t.Errorf("one Idempotency-Key gave Message-IDs %v", apiIDs)
	}
	for id := range apiIDs {
		want[id] = true
	}
	copies := 0
	got = messageIDs(t, bobIC, "INBOX")
	for id, c := range got {
		if !want[id] {
			t.Errorf("bob received %s, which no drop or API call produced", id)
		}
		copies += c - 1
	}
	for id := range want {
		if got[id] == 0 {
			t.Errorf("%s never reached bob", id)
		}
	}
	if errs, _ := os.ReadDir(filepath.Join(out, "error")); len(errs) != 0 {
		var names []string
		for _, e := range errs {
			b, _ := os.ReadFile(filepath.Join(out, "error", e.Name()))
			names = append(names, fmt.Sprintf("%s: %.200s", e.Name(), b))
		}
		t.Errorf("%d files in error/: %v", len(errs), names)
	}
	if left, _ := os.ReadDir(filepath.Join(out, "processing")); len(left) != 0 {
		t.Errorf("%d files left in processing/", len(left))
	}
	hookMu.Lock()
	// Per document, one "received" event and, once the record system's AA came, one "integrated".
	received, acked, other := documentEvents(hookEvents)
	if received != nIn || acked != nIn || other != 0 || badSig != 0 {
		t.Errorf("document events: %d received, %d integrated, %d others for %d documents (bad signatures %d)", received, acked, other, nIn, badSig)
	}
	hookMu.Unlock()
	t.Logf("%s: %d documents received, %d drops + 1 API mail sent, %d SIGKILLs of 2 concurrent processes: 0 lost, 0 delivered twice to the folder, %d repeated MDM over MLLP (same control id), %d second copies at bob (same Message-ID)",
		d, nIn, nOut, kills, mllpCopies, copies)
}

// documentEvents counts the webhook's document events by kind: "received", "integrated" (the
// record system's AA), and any other.
func documentEvents(ids map[string]int) (received, integrated, other int) {
	for id := range ids {
		switch {
		case !strings.HasPrefix(id, "document."):
		case strings.HasSuffix(id, ".received"):
			received++
		case strings.HasSuffix(id, ".integrated"):
			integrated++
		default:
			other++
		}
	}
	return received, integrated, other
}

// recordSystem is an MLLP peer standing for the hospital's record system: it reads one MDM per
// connection frame, answers AA, and keeps the control ids (MSH-10) received for each document
// (TXA-12.1).
type recordSystem struct {
	addr    string
	mu      sync.Mutex
	control map[string][]string
}

func startRecordSystem(t *testing.T) *recordSystem {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	rs := &recordSystem{addr: ln.Addr().String(), control: map[string][]string{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go rs.serve(c)
		}
	}()
	return rs
}

func (rs *recordSystem) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		frame, err := mllp.ReadFrame(r, 1<<24)
		if err != nil {
			return
		}
		m, err := hl7.Parse(frame)
		if err != nil {
			return
		}
		msh, _ := m.Segment("MSH")
		txa, _ := m.Segment("TXA")
		rs.mu.Lock()
		id := txa.Value(12, 1)
		rs.control[id] = append(rs.control[id], msh.Value(10, 1))
		rs.mu.Unlock()
		if mllp.WriteFrame(c, hl7.BuildAck(m, hl7.AA, "ACK-"+msh.Value(10, 1), time.Now())) != nil {
			return
		}
	}
}

// documents is how many distinct documents the record system has received.
func (rs *recordSystem) documents() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.control)
}

// Issue 13 item 1: `mssante gateway` serves every [[account]] table of config.toml when no
// --account is given (each with its certificate and servers); /healthz answers and /readyz
// says, in French, which mailbox is not synchronised yet (the servers here do not exist).
func TestGateway_accountsFromConfig(t *testing.T) {
	dir := t.TempDir()
	pki := testpki.New(t, testpki.Options{RSA: true})
	root := filepath.Join(dir, "root.pem")
	writeTestFile(t, root, pki.RootPEM())
	var toml strings.Builder
	for _, a := range []string{"labo@test.mssante.fr", "radio@test.mssante.fr"} {
		cert, key, _ := pki.Client("499700000000001", a).WriteFiles(t, dir, strings.Split(a, "@")[0])
		fmt.Fprintf(&toml, "[[account]]\naddress = %q\ncert = %q\nkey = %q\nsmtp = \"127.0.0.1:1\"\nimap = \"127.0.0.1:1\"\n\n", a, cert, key)
	}
	conf := filepath.Join(dir, "config.toml")
	writeTestFile(t, conf, []byte(toml.String()))
	bin := filepath.Join(dir, "mssante")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "gateway", "--config", conf, "--listen", "127.0.0.1:0", "--trust-root", root,
		"--data-dir", filepath.Join(dir, "data"), "--max-backoff", "1s")
	errBuf := &syncBuffer{}
	cmd.Stderr = errBuf
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	var ready struct {
		URL       string
		Mailboxes []string
	}
	if err := json.Unmarshal([]byte(line), &ready); err != nil || len(ready.Mailboxes) != 2 {
		_ = cmd.Process.Kill()
		t.Fatalf("ready line %q (%v)\n%s", line, err, errBuf.String())
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(ready.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("healthz %d %s", code, body)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "radio@test.mssante.fr pas encore synchronisée") {
		t.Errorf("readyz %d %s", code, body)
	}
	if code, _ := get("/api/v1/documents"); code != 401 {
		t.Errorf("documents without key: %d", code)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("SIGTERM: %v\n%s", err, errBuf.String())
	}
}

// Issue 13 item 2, ECO.1.3.1: `mssante gateway` with its TLS listener (--tls-cert, --tls-key,
// --client-ca) accepts a client certificate instead of an API key, scoped to the mailbox the
// certificate names; no certificate and no key is 401, a valid certificate of a mailbox the
// gateway does not serve is 401, a certificate of another authority is refused at the handshake.
func TestGateway_tlsClientCertificate(t *testing.T) {
	p := newGatewayPeer(t)
	_, srvKey, srvChain := p.pki.Server("127.0.0.1").WriteFiles(t, p.dir, "api")
	data := filepath.Join(p.dir, "data")
	cmd := exec.Command(p.bin, "gateway", "--listen", "127.0.0.1:0", "--tls-cert", srvChain, "--tls-key", srvKey,
		"--client-ca", p.root, "--account", gwAppli, "--cert", p.cert, "--key", p.key,
		"--smtp", p.st.Submission, "--imap", p.st.IMAP, "--trust-root", p.root, "--data-dir", data,
		"--poll", "100ms", "--reidle", "1s", "--max-backoff", "1s")
	errBuf := &syncBuffer{}
	cmd.Stderr = errBuf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	go func() { _, _ = io.Copy(io.Discard, stdout); done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	var ready struct{ URL string }
	if err != nil || json.Unmarshal([]byte(line), &ready) != nil || !strings.HasPrefix(ready.URL, "https://") {
		t.Fatalf("gateway did not start on TLS: %q %v\n%s", line, err, errBuf.String())
	}
	get := func(certs ...tls.Certificate) (int, string, error) {
		c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: p.pki.RootPool(), Certificates: certs}}}
		resp, err := c.Get(ready.URL + "/api/v1/documents?mailbox=" + gwAppli)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	if code, body, err := get(p.pki.Client("499700000000001", gwAppli).TLS); err != nil || code != http.StatusOK {
		t.Errorf("client certificate of %s: %d %v %s", gwAppli, code, err, body)
	}
	if code, body, err := get(); err != nil || code != http.StatusUnauthorized || !strings.Contains(body, "detail") {
		t.Errorf("no certificate, no key: %d %v %s, want 401 with a problem detail", code, err, body)
	}
	if code, body, err := get(p.pki.Client("499700000000001", "autre@test.mssante.fr").TLS); err != nil || code != http.StatusUnauthorized {
		t.Errorf("certificate of a mailbox not served: %d %v %s, want 401", code, err, body)
	}
	stranger := testpki.New(t, testpki.Options{RSA: true})
	if code, _, err := get(stranger.Client("499700000000001", gwAppli).TLS); err == nil {
		t.Errorf("certificate of another authority: answered %d, want the handshake refused", code)
	}
}
