package operator_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// IMAP commands the lps client does not use, checked with go-imap's own client: EXAMINE,
// STATUS, COPY, CREATE/RENAME/DELETE, SEARCH criteria, sequence numbers with "*", BODYSTRUCTURE,
// and expunges seen by another session.

type xoauth2Client struct{ user, token string }

func (c xoauth2Client) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + c.user + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}
func (c xoauth2Client) Next([]byte) ([]byte, error) { return []byte{}, nil }

func (w *world) rawIMAP(user, nationalID string, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	w.t.Helper()
	c, err := imapclient.DialStartTLS(w.op.IMAPAddr(), &imapclient.Options{TLSConfig: w.clientTLS(), UnilateralDataHandler: h})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = c.Close() })
	if err := c.Authenticate(xoauth2Client{user, w.tokens.issue(nationalID, time.Hour)}); err != nil {
		w.t.Fatalf("Authenticate: %v", err)
	}
	return c
}

func (w *world) seed(to string, n int) {
	w.t.Helper()
	for i := 1; i <= n; i++ {
		msg := testMessage(alice, to, fmt.Sprintf("seed %d", i))
		if i == 2 {
			msg = bytes.Replace(msg, []byte("Compte rendu"), []byte("Lettre de liaison"), 1)
		}
		if err := w.op.Deliver(alice, []string{to}, msg); err != nil {
			w.t.Fatal(err)
		}
	}
}

func TestIMAP_examineStatusSearch(t *testing.T) {
	w := newWorld(t)
	w.seed(bob, 3)
	c := w.rawIMAP(bob, bobID, nil)

	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, NumUnseen: true, UIDNext: true, UIDValidity: true}).Wait()
	if err != nil || *st.NumMessages != 3 || *st.NumUnseen != 3 || st.UIDNext != 4 || st.UIDValidity == 0 {
		t.Fatalf("STATUS = %+v, %v", st, err)
	}
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	err = c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
	if err == nil {
		t.Errorf("STORE in an EXAMINEd mailbox succeeded")
	}
	// A body fetch under EXAMINE does not set \Seen.
	if _, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect(); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Status("INBOX", &imap.StatusOptions{NumUnseen: true}).Wait(); st == nil || *st.NumUnseen != 3 {
		t.Errorf("unseen after a fetch under EXAMINE = %+v", st)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	search := func(name string, crit *imap.SearchCriteria, want ...imap.UID) {
		t.Helper()
		d, err := c.UIDSearch(crit, nil).Wait()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := d.AllUIDs(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("SEARCH %s = %v, want %v", name, got, want)
		}
	}
	search("TEXT", &imap.SearchCriteria{Text: []string{"lettre de LIAISON"}}, 2)
	search("BODY", &imap.SearchCriteria{Body: []string{"compte rendu"}}, 1, 3)
	search("HEADER Subject", &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "SEED 3"}}}, 3)
	search("HEADER Delivered-To", &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Delivered-To", Value: bob}}}, 1, 2, 3)
	search("UID 2:*", &imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 2, Stop: 0}}}}, 2, 3)
	search("UID *", &imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 0, Stop: 0}}}}, 3)
	search("2:*", &imap.SearchCriteria{SeqNum: []imap.SeqSet{{{Start: 2, Stop: 0}}}}, 2, 3)
	search("NOT UID 2", &imap.SearchCriteria{Not: []imap.SearchCriteria{{UID: []imap.UIDSet{imap.UIDSetNum(2)}}}}, 1, 3)
	search("OR", &imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{UID: []imap.UIDSet{imap.UIDSetNum(1)}},
		{Text: []string{"liaison"}}}}}, 1, 2)
	search("SINCE today", &imap.SearchCriteria{Since: time.Now().Add(-24 * time.Hour)}, 1, 2, 3)
	search("BEFORE yesterday", &imap.SearchCriteria{Before: time.Now().Add(-48 * time.Hour)})

	// Sequence numbers, "*" and BODYSTRUCTURE.
	msgs, err := c.Fetch(imap.SeqSet{{Start: 2, Stop: 0}}, &imap.FetchOptions{UID: true, BodyStructure: &imap.FetchItemBodyStructure{}}).Collect()
	if err != nil || len(msgs) != 2 || msgs[0].UID != 2 || msgs[1].UID != 3 {
		t.Fatalf("FETCH 2:* = %+v, %v", msgs, err)
	}
	if bs, ok := msgs[0].BodyStructure.(*imap.BodyStructureSinglePart); !ok || !strings.EqualFold(bs.Type, "text") {
		t.Errorf("BODYSTRUCTURE = %#v", msgs[0].BodyStructure)
	}
}

func TestIMAP_copyAndFolders(t *testing.T) {
	w := newWorld(t)
	w.seed(bob, 2)
	c := w.rawIMAP(bob, bobID, nil)
	if err := c.Create("Dossiers/Cardio", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	cd, err := c.Copy(imap.SeqSetNum(1, 2), "Dossiers/Cardio").Wait()
	if err != nil || cd.DestUIDs.String() != "1:2" {
		t.Fatalf("COPY = %+v, %v", cd, err)
	}
	if err := c.Rename("Dossiers/Cardio", "Cardiologie", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status("Cardiologie", &imap.StatusOptions{NumMessages: true, UIDValidity: true}).Wait()
	if err != nil || *st.NumMessages != 2 || st.UIDValidity != cd.UIDValidity {
		t.Fatalf("STATUS after RENAME = %+v, %v", st, err)
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil || len(list) != 4 {
		t.Errorf("LIST = %+v, %v", list, err)
	}
	attrs := map[string]string{}
	for _, l := range list {
		attrs[l.Mailbox] = fmt.Sprint(l.Attrs)
	}
	if !strings.Contains(attrs["Sent"], `\Sent`) || !strings.Contains(attrs["Trash"], `\Trash`) {
		t.Errorf("special-use attributes = %v", attrs)
	}
	if err := c.Delete("Cardiologie").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("INBOX").Wait(); err == nil {
		t.Errorf("DELETE INBOX succeeded")
	}
	// A folder deleted then created again gets a new UIDVALIDITY (RFC 3501 §2.3.1.1).
	if err := c.Create("Cardiologie", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if st2, _ := c.Status("Cardiologie", &imap.StatusOptions{UIDValidity: true}).Wait(); st2 == nil || st2.UIDValidity == st.UIDValidity {
		t.Errorf("UIDVALIDITY reused after DELETE/CREATE: %+v", st2)
	}
}

// An expunge by one session reaches another session idling on the same folder.
func TestIMAP_expungeSeenByOtherSession(t *testing.T) {
	w := newWorld(t)
	w.seed(bob, 3)
	expunged := make(chan uint32, 4)
	watcher := w.rawIMAP(bob, bobID, &imapclient.UnilateralDataHandler{Expunge: func(seq uint32) { expunged <- seq }})
	if _, err := watcher.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := watcher.Idle()
	if err != nil {
		t.Fatal(err)
	}
	c := w.rawIMAP(bob, bobID, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case seq := <-expunged:
		if seq != 2 {
			t.Errorf("EXPUNGE %d, want 2", seq)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the idling session saw no EXPUNGE")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := watcher.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{UID: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].UID != 3 {
		t.Errorf("FETCH 2 after the expunge = %+v, %v", msgs, err)
	}
}

// SEARCH decodes MIME words, quoted-printable and charsets as Dovecot does: a professional
// searching "données" or "Résultats" finds encoded mail.
func TestIMAP_searchDecoded(t *testing.T) {
	w := newWorld(t)
	qp := "From: <" + alice + ">\r\nTo: <" + bob + ">\r\nSubject: =?utf-8?q?R=C3=A9sultats_biologie?=\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Les donn=C3=A9es de sant=C3=A9 sont jointes.\r\n--x\r\n" +
		"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
		"H\xe9matologie normale.\r\n--x--\r\n"
	if err := w.op.Deliver(alice, []string{bob}, []byte(qp)); err != nil {
		t.Fatal(err)
	}
	w.seed(bob, 1)
	c := w.rawIMAP(bob, bobID, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for name, crit := range map[string]*imap.SearchCriteria{
		"BODY données":       {Body: []string{"données de santé sont"}},
		"TEXT santé":         {Text: []string{"SANTÉ SONT"}},
		"BODY Hématologie":   {Body: []string{"hématologie"}},
		"HEADER Subject":     {Header: []imap.SearchCriteriaHeaderField{{Key: "subject", Value: "résultats"}}},
		"TEXT in the header": {Text: []string{"Résultats biologie"}},
	} {
		d, err := c.UIDSearch(crit, nil).Wait()
		if err != nil || fmt.Sprint(d.AllUIDs()) != "[1]" {
			t.Errorf("SEARCH %s = %v, %v, want [1]", name, d, err)
		}
	}
}

// ECO.1.3.1: LOGIN (for clients such as mbsync) follows the applicative rule: the certificate,
// with any password; without it, NO [AUTHENTICATIONFAILED].
func TestIMAP_loginApplicative(t *testing.T) {
	w := newWorld(t)
	for name, certs := range map[string][]tls.Certificate{"with": {*w.appCert}, "without": nil} {
		cfg := w.clientTLS()
		cfg.Certificates = certs
		c, err := imapclient.DialStartTLS(w.op.IMAPAddr(), &imapclient.Options{TLSConfig: cfg})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Login(appli, "ignored").Wait()
		var ie *imap.Error
		switch {
		case name == "with" && err != nil:
			t.Errorf("LOGIN with the certificate: %v", err)
		case name == "without" && (!errors.As(err, &ie) || ie.Code != imap.ResponseCodeAuthenticationFailed):
			t.Errorf("LOGIN without a certificate: %v, want NO [AUTHENTICATIONFAILED]", err)
		}
		_ = c.Close()
	}
}
