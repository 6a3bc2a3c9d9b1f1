package ldapdir

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/mssante/mssante/internal/annuaire"
)

func addrs(es []annuaire.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Address)
	}
	slices.Sort(out)
	return out
}

// ECO.3.1.4: search a real OpenLDAP by name, profession, city, postcode, mailbox, with and
// without accents and in any case.
func TestSearch_realSlapd_ECO_3_1_4(t *testing.T) {
	d := startSlapd(t)
	c := New(Options{URL: d.URL, BaseDN: d.BaseDN})
	ctx := context.Background()

	heloise := "heloise.lefevre@ch-exemple.mssante.fr"
	martin := []string{"jean-loic.martin@pharmacie-ecoles.mssante.fr", "jl.martin@pharmacien.mssante.fr"}
	tests := []struct {
		name string
		q    annuaire.Query
		want []string
	}{
		{"last name as written", annuaire.Query{Text: "LEFÈVRE"}, []string{heloise}},
		{"last name without accent (approx)", annuaire.Query{Text: "lefevre"}, []string{heloise}},
		{"first name without accent, lower case", annuaire.Query{Text: "heloise"}, []string{heloise}},
		{"prefixes of two words", annuaire.Query{Text: "Hélo lef"}, []string{heloise}},
		{"city without accent", annuaire.Query{Text: "saint-etienne"}, []string{heloise}},
		{"city without accent and profession", annuaire.Query{Text: "saint-etienne médecin"}, []string{heloise}},
		{"postcode prefix", annuaire.Query{Text: "420"}, []string{heloise}},
		{"profession", annuaire.Query{Text: "pharmacien"}, martin},
		{"mailbox prefix", annuaire.Query{Text: "JL.MARTIN@"}, martin[1:]},
		{"organisation substring", annuaire.Query{Text: "clinique"}, []string{"chir-ortho@clinique-st-martin.mssante.fr"}},
		{"no mailbox, not listed", annuaire.Query{Text: "nguyen"}, nil},
		{"restricted to bound users", annuaire.Query{Text: "restreint"}, nil},
		{"filter injection is escaped", annuaire.Query{Text: "*)(mail=*"}, nil},
		{"department from postcode", annuaire.Query{Text: "martin", Department: "2A"}, martin},
		{"overseas department", annuaire.Query{Text: "martin", Department: "972"}, []string{"ophelie.martin-oeillet@infirmier.mssante.fr"}},
		{"type inferred ORG", annuaire.Query{Text: "lyon", Type: annuaire.TypeORG},
			[]string{"chir-ortho@clinique-st-martin.mssante.fr", "resultats@bioexemple.mssante.fr"}},
		{"profession filter", annuaire.Query{Text: "martin", Profession: "infirmier"}, []string{"ophelie.martin-oeillet@infirmier.mssante.fr"}},
		{"empty query", annuaire.Query{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Search(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			a := addrs(got)
			// Approximate matching may add near misses: want must be among the results.
			if tt.name == "city without accent" {
				for _, w := range tt.want {
					if !slices.Contains(a, w) {
						t.Errorf("Search(%+v) = %q, want %q among them", tt.q, a, w)
					}
				}
				return
			}
			if !slices.Equal(a, tt.want) {
				t.Errorf("Search(%+v) = %q, want %q", tt.q, a, tt.want)
			}
		})
	}

	got, err := c.Search(ctx, annuaire.Query{Text: "lefevre"})
	if err != nil || len(got) != 1 {
		t.Fatalf("Search(lefevre) = %v, %v", got, err)
	}
	want := annuaire.Entry{Address: heloise, Type: "PER", NationalID: "810000000017", LastName: "LEFÈVRE",
		FirstName: "Héloïse", Profession: "Médecin", Specialty: "Cardiologie et maladies vasculaires",
		Organization: "Centre hospitalier d'Exemple-sur-Loire", Service: "Service de cardiologie",
		City: "Saint-Étienne", PostalCode: "42000", Department: "42", Source: "ldap"}
	if got[0] != want {
		t.Errorf("entry\n got %+v\nwant %+v", got[0], want)
	}

	// Limit: the server's size limit gives a partial answer, not an error.
	got, err = c.Search(ctx, annuaire.Query{Text: "martin", Limit: 1})
	if err != nil || len(got) != 1 {
		t.Errorf("Search(martin, limit 1) = %d entries, %v", len(got), err)
	}

	// Explicit attribute map: type from employeeType, filtered by the server.
	typed := New(Options{URL: d.URL, BaseDN: d.BaseDN, Attributes: map[string]string{"type": "employeeType", "specialty": ""}})
	got, err = typed.Search(ctx, annuaire.Query{Text: "lyon", Type: annuaire.TypeAPP})
	if err != nil || len(got) != 1 || got[0].Type != "APP" || got[0].Address != "resultats@bioexemple.mssante.fr" {
		t.Errorf("typed Search(lyon, APP) = %+v, %v", got, err)
	}
	got, err = typed.Search(ctx, annuaire.Query{Text: "lefevre"})
	if err != nil || len(got) != 1 || got[0].Specialty != "" {
		t.Errorf("removed specialty mapping still filled: %+v, %v", got, err)
	}

	// Custom template: exact mail only.
	exact := New(Options{URL: d.URL, BaseDN: d.BaseDN, FilterTemplate: "(mail={q})"})
	if got, err := exact.Search(ctx, annuaire.Query{Text: heloise}); err != nil || len(got) != 1 {
		t.Errorf("exact template = %v, %v", got, err)
	}
	if got, err := exact.Search(ctx, annuaire.Query{Text: "heloise"}); err != nil || len(got) != 0 {
		t.Errorf("exact template with a name = %v, %v", got, err)
	}
}

func TestSearch_bind(t *testing.T) {
	d := startSlapd(t)
	ctx := context.Background()
	bound := New(Options{URL: d.URL, BaseDN: d.BaseDN, BindDN: d.ReaderDN, BindPassword: d.ReaderPassword})
	got, err := bound.Search(ctx, annuaire.Query{Text: "restreint"})
	if err != nil || len(got) != 1 || got[0].Address != "anais.restreint@medecin.mssante.fr" {
		t.Fatalf("bound Search(restreint) = %+v, %v", got, err)
	}
	wrong := "not-the-" + d.ReaderPassword
	_, err = New(Options{URL: d.URL, BaseDN: d.BaseDN, BindDN: d.ReaderDN, BindPassword: wrong}).Search(ctx, annuaire.Query{Text: "x"})
	if err == nil || !strings.Contains(err.Error(), "bind") {
		t.Fatalf("wrong password: error = %v", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("the password leaks into the error: %v", err)
	}
}

func TestNew_configErrors(t *testing.T) {
	for _, o := range []Options{
		{BaseDN: suffix},
		{URL: "ldap://127.0.0.1:1/", Attributes: map[string]string{"nickname": "cn"}},
		{URL: "ldap://127.0.0.1:1/", Attributes: map[string]string{"address": ""}},
		{URL: "ldap://127.0.0.1:1/", FilterTemplate: "(cn=*)"},
		{URL: "ldap://127.0.0.1:1/", FilterTemplate: "(cn={q}"},
	} {
		if _, err := New(o).Search(context.Background(), annuaire.Query{Text: "x"}); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v).Search error = %v, want ErrConfig", o, err)
		}
	}
}

func TestFilter(t *testing.T) {
	c := New(Options{URL: "ldap://x/", FilterTemplate: "(cn=*{q}*)", Attributes: map[string]string{"type": "employeeType"}})
	got, ok := c.filter(annuaire.Query{Text: "Hé (x)*", Type: "PER", Profession: "médecin"})
	want := `(&(mail=*)(cn=*H\c3\a9*)(cn=*\28x\29\2a*)(employeeType=PER)(|(title=*m\c3\a9decin*)(title~=m\c3\a9decin)))`
	if !ok || got != want {
		t.Errorf("filter = %s, want %s", got, want)
	}
	if _, ok := c.filter(annuaire.Query{Text: "  "}); ok {
		t.Errorf("empty query gives a filter")
	}
}

// A server that accepts the connection and never answers: Timeout ends the search.
func TestSearch_timeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			defer func() { _ = conn.Close() }()
		}
	}()
	start := time.Now()
	_, err = New(Options{URL: "ldap://" + l.Addr().String(), BaseDN: suffix, Timeout: 200 * time.Millisecond}).
		Search(context.Background(), annuaire.Query{Text: "martin"})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Search against a mute server: %v after %v", err, time.Since(start))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error does not say deadline: %v", err)
	}
}

func TestDepartment(t *testing.T) {
	for in, want := range map[string]string{"42000": "42", "20000": "2A", "20290": "2B", "97200": "972", "": ""} {
		if got := department(in); got != want {
			t.Errorf("department(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzFilter: whatever the user types, the filter compiles and each word stays inside its
// assertion values (no injected filter component: as many "(" as the template gives).
func FuzzFilter(f *testing.F) {
	for _, s := range []string{"martin", "*)(mail=*", "H\u00e9lo\u00efse lef", "\\2a", "a\x00b", ")(|(cn=*"} {
		f.Add(s)
	}
	c := New(Options{URL: "ldap://x/"})
	perWord := strings.Count(DefaultFilterTemplate, "(")
	f.Fuzz(func(t *testing.T, text string) {
		filter, ok := c.filter(annuaire.Query{Text: text})
		if !ok {
			return
		}
		if _, err := ldap.CompileFilter(filter); err != nil {
			t.Fatalf("filter of %q does not compile: %v\n%s", text, err, filter)
		}
		if want := 2 + perWord*len(strings.Fields(text)); strings.Count(filter, "(") != want {
			t.Fatalf("filter of %q has %d components, want %d: %s", text, strings.Count(filter, "("), want, filter)
		}
	})
}
