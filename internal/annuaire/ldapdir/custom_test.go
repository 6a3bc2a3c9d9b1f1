package ldapdir

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mssante/mssante/internal/annuaire"
	"github.com/mssante/mssante/internal/testkit"
)

// startCustomSlapd starts slapd with core plus testdata/custom.schema (no inetOrgPerson) and
// the entries of testdata/custom.ldif, loaded with slapadd before the start.
func startCustomSlapd(t *testing.T) (url, base string) {
	t.Helper()
	slapd := findProgram(t, "slapd")
	slapadd := findProgram(t, "slapadd")
	testkit.RequireFile(t, "/etc/ldap/schema/core.schema")
	dir := t.TempDir()
	schema, err := filepath.Abs(filepath.Join("testdata", "custom.schema"))
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "slapd.conf")
	module := ""
	if _, err := os.Stat("/usr/lib/ldap/back_mdb.so"); err == nil {
		module = "modulepath /usr/lib/ldap\nmoduleload back_mdb\n"
	}
	writeFile(t, conf, fmt.Sprintf(`include /etc/ldap/schema/core.schema
include %[1]s
pidfile %[2]s/slapd.pid
argsfile %[2]s/slapd.args
%[3]sdatabase mdb
maxsize 16777216
suffix "o=mssante,c=fr"
directory %[2]s/db
access to * by * read
`, schema, dir, module))
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(slapadd, "-f", conf, "-l", filepath.Join("testdata", "custom.ldif")).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}
	return launchSlapd(t, slapd, dir, conf), "ou=bal,o=mssante,c=fr"
}

// customAttrs maps the entry fields to the custom schema, as --ldap-attr does.
var customAttrs = map[string]string{
	"address": "mssAdresseBAL", "type": "mssTypeBAL", "last_name": "mssNomExercice",
	"first_name": "mssPrenomExercice", "profession": "mssLibelleProfession",
	"organization": "mssRaisonSociale", "city": "mssCommune", "postal_code": "mssCodePostal",
	"national_id": "mssIdNat", "specialty": "", "service": "",
}

// ECO.3.1.4: against a directory with its own schema, the attribute map alone is enough: the
// default filter is built on the mapped attributes (it named cn, sn… and found nothing).
func TestSearch_customSchemaWithAttributeMapOnly(t *testing.T) {
	url, base := startCustomSlapd(t)
	c := New(Options{URL: url, BaseDN: base, Attributes: customAttrs})
	for _, tc := range []struct {
		q    annuaire.Query
		want string
	}{
		{annuaire.Query{Text: "almeida"}, "m.dalmeida@medecin.mssante.fr"},
		{annuaire.Query{Text: "d'almeida maria"}, "m.dalmeida@medecin.mssante.fr"},
		{annuaire.Query{Text: "goff brest"}, "yann.legoff@medecin.mssante.fr"},
		{annuaire.Query{Text: "ajaccio", Type: annuaire.TypeORG}, "secretariat@ch-ajaccio.mssante.fr"},
		{annuaire.Query{Text: "2009"}, "secretariat@ch-ajaccio.mssante.fr"},
	} {
		got, err := c.Search(context.Background(), tc.q)
		if err != nil || len(got) != 1 || got[0].Address != tc.want {
			t.Errorf("Search(%+v) = %+v, %v; want %s", tc.q, got, err, tc.want)
		}
	}
	got, err := c.Search(context.Background(), annuaire.Query{Text: "ajaccio"})
	if err != nil || len(got) != 1 {
		t.Fatalf("Search(ajaccio) = %+v, %v", got, err)
	}
	if e := got[0]; e.Type != annuaire.TypeORG || e.Organization != "CENTRE HOSPITALIER D'AJACCIO" || e.Department != "2A" || e.Source != "ldap" {
		t.Errorf("entry = %+v", e)
	}
}

func TestFilterFor(t *testing.T) {
	if got := filterFor(DefaultAttributes); got != DefaultFilterTemplate {
		t.Errorf("filterFor(defaults) = %s", got)
	}
	attrs := map[string]string{"address": "a", "last_name": "n"}
	if got, want := filterFor(attrs), "(|(n~={q})(n=*{q}*)(n={q}*)(a={q}*))"; got != want {
		t.Errorf("filterFor = %s, want %s", got, want)
	}
}
