package mailstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/ins"
	"github.com/mssante/mssante/internal/patients"
	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
)

// put stores raw as message uid of folder in account, as the sync engine does.
func put(t testing.TB, s *Store, account, folder string, uid uint32, raw []byte, flags ...string) int64 {
	t.Helper()
	ctx := ctxT(t)
	acc, err := s.accountID(ctx, account, true)
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.folder(ctx, acc, folder)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.insert(ctx, acc, f.ID, &fetched{UID: uid, UIDValidity: 7, InternalDate: t0, Size: int64(len(raw)), Flags: flags, Raw: raw})
	if err != nil || id == 0 {
		t.Fatalf("insert UID %d: id %d, %v", uid, id, err)
	}
	return id
}

func subjects(p Page) []string {
	var out []string
	for _, m := range p.Messages {
		out = append(out, m.DisplaySubject)
	}
	return out
}

type fakePatients map[string]patients.Patient

func (f fakePatients) ByMatricule(_ context.Context, m string) ([]patients.Patient, error) {
	if p, ok := f[m]; ok {
		return []patients.Patient{p}, nil
	}
	return nil, nil
}

// ECO.3.2.2, ECO.3.2.3, ECO.3.2.1: sort orders, several mailboxes, threads, pages.
func TestList_ECO_3_2_2(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := ctxT(t)
		s := New(db, nil)
		orga := "secretariat@hopital-a.mssante.fr"
		put(t, s, drMartin, "INBOX", 1, plainMail(drDupont, "Dr Jean DUPONT", "Bilan", "m1@x", t0, "texte un"))
		put(t, s, drMartin, "INBOX", 2, plainMail("a@b.mssante.fr", "Élodie ARNAUD", "avis cardiologique", "m2@x", t0.Add(time.Hour), "texte deux"), `\Seen`)
		put(t, s, drMartin, "INBOX", 3, plainMail(drDupont, "Dr Jean DUPONT", "Re: Bilan", "m3@x", t0.Add(2*time.Hour), "réponse", "m1@x"))
		put(t, s, drMartin, "INBOX", 4, fixture(t, "read/patient-plain-order.eml"))
		put(t, s, orga, "INBOX", 1, plainMail(drDupont, "Dr Jean DUPONT", "Zona", "o1@x", t0.Add(3*time.Hour), "orga"))

		page, err := s.List(ctx, Query{Accounts: []string{drMartin}})
		if err != nil {
			t.Fatal(err)
		}
		// Newest first; the patient's mail has no Date: its internal date (t0), a tie broken by id.
		got := subjects(page)
		if want := []string{"Re: Bilan", "avis cardiologique", "Rendez-vous", "Bilan"}; !slices.Equal(got, want) {
			t.Errorf("date order %q, want %q", got, want)
		}
		page, err = s.List(ctx, Query{Accounts: []string{drMartin}, Sort: SortSender})
		if err != nil {
			t.Fatal(err)
		}
		// clara petit, dr jean dupont ×2, elodie arnaud: case and accents ignored.
		if got, want := subjects(page), []string{"Rendez-vous", "Bilan", "Re: Bilan", "avis cardiologique"}; !slices.Equal(got, want) {
			t.Errorf("sender order %q, want %q", got, want)
		}
		page, err = s.List(ctx, Query{Accounts: []string{drMartin}, Sort: SortSubject})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := subjects(page), []string{"avis cardiologique", "Bilan", "Re: Bilan", "Rendez-vous"}; !slices.Equal(got, want) {
			t.Errorf("subject order %q, want %q (case and accents ignored)", got, want)
		}
		page, err = s.List(ctx, Query{Accounts: []string{drMartin}, Sort: SortSubject, Reverse: true})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := subjects(page), []string{"Rendez-vous", "Re: Bilan", "Bilan", "avis cardiologique"}; !slices.Equal(got, want) {
			t.Errorf("reverse subject order %q, want %q", got, want)
		}
		page, err = s.List(ctx, Query{Accounts: []string{drMartin}, Sort: SortPatient})
		if err != nil {
			t.Fatal(err)
		}
		if m := page.Messages[0]; m.SenderKind != SenderPatient || m.Patient == nil || m.Patient.INS != "291121305508744" {
			t.Errorf("patient order: first %+v, want the patient's mail", m)
		}
		// ECO.3.2.3: two mailboxes at once.
		page, err = s.List(ctx, Query{Accounts: []string{drMartin, orga}})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Messages) != 5 {
			t.Errorf("two accounts: %d messages, want 5", len(page.Messages))
		}
		page, err = s.List(ctx, Query{Accounts: []string{drMartin}, Unseen: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Messages) != 3 {
			t.Errorf("unseen: %q", subjects(page))
		}
		// ECO.3.2.1: threads together.
		page, err = s.List(ctx, Query{Accounts: []string{drMartin}, Thread: true})
		if err != nil {
			t.Fatal(err)
		}
		got = subjects(page)
		// Threads by their newest message: m1 (Re: Bilan at t0+2h), m2, the patient's.
		if want := []string{"Bilan", "Re: Bilan", "avis cardiologique", "Rendez-vous"}; !slices.Equal(got, want) ||
			page.Messages[0].ThreadID != "m1@x" || page.Messages[1].ThreadID != "m1@x" {
			t.Errorf("thread view %q, want %q", got, want)
		}
		page, err = s.List(ctx, Query{Accounts: []string{drMartin}, Thread: true, Limit: 1, Offset: 1})
		if err != nil {
			t.Fatal(err)
		}
		if got := subjects(page); !slices.Equal(got, []string{"avis cardiologique"}) {
			t.Errorf("second thread alone %q", got)
		}
		page, err = s.List(ctx, Query{Accounts: []string{drMartin}, Thread: true, Reverse: true})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := subjects(page), []string{"Rendez-vous", "avis cardiologique", "Bilan", "Re: Bilan"}; !slices.Equal(got, want) {
			t.Errorf("reverse thread view %q, want %q", got, want)
		}
		// Keyset pages give every message once.
		var seen []string
		q := Query{Accounts: []string{drMartin}, Sort: SortSubject, Limit: 1}
		for range 10 {
			page, err := s.List(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			seen = append(seen, subjects(page)...)
			if page.Next == "" {
				break
			}
			q.After = page.Next
		}
		if want := []string{"avis cardiologique", "Bilan", "Re: Bilan", "Rendez-vous"}; !slices.Equal(seen, want) {
			t.Errorf("keyset pages %q, want %q", seen, want)
		}
		folders, err := s.Folders(ctx, drMartin)
		if err != nil {
			t.Fatal(err)
		}
		if len(folders) != 1 || folders[0].Messages != 4 || folders[0].Unseen != 3 {
			t.Errorf("folders %+v, want INBOX 4 messages 3 unseen", folders)
		}
		if _, err := s.List(ctx, Query{Accounts: []string{"nobody@x.mssante.fr"}}); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown account: %v, want ErrNotFound", err)
		}
	}, Migrations()...)
}

// ECO.3.1.2, ECO.3.1.3 through the store: show, search, documents of a patient, reports.
func TestShowSearchDocumentsReports(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := ctxT(t)
		known := fakePatients{bioINS: {ID: 42, Identity: ins.Identity{BirthName: "NOM", FirstName: "Prenom"}}}
		s := New(db, &Options{Patients: known})
		c := cdaMail(t, "n3-cr-biologie.xml", 1, t0)
		put(t, s, drMartin, "INBOX", 10, c.Data)
		put(t, s, drMartin, "INBOX", 11, fixture(t, "read/mes-bounce.eml"))
		put(t, s, drMartin, "INBOX", 12, fixture(t, "read/dsn-failed.eml"))
		put(t, s, drMartin, "INBOX", 13, plainMail(drDupont, "Dr Jean DUPONT", "Résultats d'échographie", "e1@x", t0, "Le foie est normal."))

		m, err := s.Get(ctx, drMartin, "INBOX", 10)
		if err != nil {
			t.Fatal(err)
		}
		if m.DisplaySubject == c.Subject || m.Subject != c.Subject || len(m.Documents) != 1 {
			t.Errorf("show: subject %q display %q documents %+v", m.Subject, m.DisplaySubject, m.Documents)
		}
		if d := m.Documents[0]; d.INS != bioINS || d.KnownPatient != 42 {
			t.Errorf("document %+v, want INS %s known patient 42", d, bioINS)
		}
		raw, err := s.Body(ctx, m)
		if err != nil || string(raw) != string(c.Data) {
			t.Errorf("body: %d bytes, %v", len(raw), err)
		}
		if byID, err := s.ByMessageID(ctx, drMartin, "<"+c.MessageID+">"); err != nil || byID.UID != 10 {
			t.Errorf("by Message-ID: %+v %v", byID, err)
		}
		for _, q := range []string{"echographie", "Résultat", "FOIE normal"} {
			found, err := s.Search(ctx, q, 10, drMartin)
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != 1 || found[0].UID != 13 {
				t.Errorf("search %q: %d results", q, len(found))
			}
		}
		if found, err := s.Search(ctx, `"; DROP ( *`, 10, drMartin); err != nil || len(found) != 0 {
			t.Errorf("search of punctuation: %v %v", found, err)
		}
		docs, err := s.DocumentsOf(ctx, bioINS)
		if err != nil {
			t.Fatal(err)
		}
		if len(docs) != 1 || docs[0].Message.UID != 10 || docs[0].TypeCode == "" {
			t.Errorf("documents of %s: %+v", bioINS, docs)
		}
		reps, err := s.ReportsFor(ctx, "<orig-0002@medecin.mssante.fr>")
		if err != nil {
			t.Fatal(err)
		}
		if len(reps) != 1 || reps[0].Kind != "bounce" || !reps[0].Failed || reps[0].UID != 11 || reps[0].Recipient == "" {
			t.Errorf("reports of orig-0002: %+v", reps)
		}
		reps, err = s.ReportsFor(ctx, "orig-0001@medecin.mssante.fr")
		if err != nil {
			t.Fatal(err)
		}
		if len(reps) != 2 || reps[0].Kind != "dsn" || reps[0].Status != "5.1.1" || !reps[0].Failed || reps[1].Action != "delivered" || reps[1].Failed {
			t.Errorf("reports of orig-0001: %+v", reps)
		}
	}, Migrations()...)
}

// ECO.2.3.1 (issue 9 item 4): a Postfix DSN matched by its Original-Envelope-Id alone (the
// outbox gives the Message-ID as ENVID): the returned headers and In-Reply-To do not name the
// mail here.
func TestReportsFor_originalEnvelopeID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := New(db, nil)
		const envid = "3f9c2a7e41d0b6a8.outbox@medecin.mssante.fr"
		raw := strings.Replace(string(fixture(t, "read/dsn-postfix-envid.eml")),
			"Message-ID: <"+envid+">\r\n", "", 1)
		if strings.Contains(raw, "<"+envid+">") {
			t.Fatal("the fixture still names the Message-ID outside Original-Envelope-Id")
		}
		put(t, s, drMartin, "INBOX", 1, []byte(raw))
		reps, err := s.ReportsFor(ctxT(t), "<"+envid+">")
		if err != nil {
			t.Fatal(err)
		}
		if len(reps) != 2 || reps[0].OriginalEnvelopeID != envid || reps[0].Status != "5.1.1" || !reps[0].Failed ||
			reps[1].Action != "delivered" || reps[1].OriginalEnvelopeID != envid {
			t.Errorf("reports of %s: %+v", envid, reps)
		}
		if reps, err := s.ReportsFor(ctxT(t), "other@medecin.mssante.fr"); err != nil || len(reps) != 0 {
			t.Errorf("reports of another mail: %+v %v", reps, err)
		}
	}, Migrations()...)
}
