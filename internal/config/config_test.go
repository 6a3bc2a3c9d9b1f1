package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// env is a fake environment: XDG directories in a temporary directory, plus vars.
func env(t *testing.T, vars ...string) Lookup {
	t.Helper()
	dir := t.TempDir()
	m := map[string]string{"XDG_CONFIG_HOME": filepath.Join(dir, "config"), "XDG_DATA_HOME": filepath.Join(dir, "data"),
		"XDG_RUNTIME_DIR": filepath.Join(dir, "run"), "HOME": dir}
	for i := 0; i+1 < len(vars); i += 2 {
		m[vars[i]] = vars[i+1]
	}
	return func(name string) (string, bool) { v, ok := m[name]; return v, ok }
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// bind parses args on a flag set bound to keys and loads.
func bind(t *testing.T, e Lookup, args []string, keys ...string) (*Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	b := Bind(fs, e, keys...)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return b.Load()
}

func problems(t *testing.T, err error) []Problem {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("want a *config.Error, got %v", err)
	}
	return ce.Problems
}

func TestDefaults(t *testing.T) {
	e := env(t)
	c, err := Load(Options{Env: e})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := e("XDG_DATA_HOME")
	run, _ := e("XDG_RUNTIME_DIR")
	checks := map[string][2]any{
		"data_dir":          {c.DataDir, filepath.Join(data, "mssante")},
		"db":                {string(c.DB), "sqlite:" + filepath.Join(data, "mssante", "mssante.db")},
		"patient_domain":    {c.PatientDomain, "patient.mssante.fr"},
		"trust.profile":     {c.Trust.Profile, "production"},
		"trust.crl_refresh": {c.Trust.CRLRefreshOption(), time.Duration(-1)},
		"audit.retention":   {c.Audit.Retention, 183 * 24 * time.Hour},
		"sandbox.dir":       {c.Sandbox.Dir, filepath.Join(data, "mssante", "sandbox")},
		"login.runtime_dir": {c.Login.RuntimeDir, filepath.Join(run, "mssante")},
		"message.nil":       {c.Message.NIL, "MSSANTE-OSS"},
	}
	for k, v := range checks {
		if v[0] != v[1] {
			t.Errorf("%s = %v, want %v", k, v[0], v[1])
		}
		if s := c.Source(k); s.Kind != FromDefault {
			t.Errorf("%s source %v, want default", k, s)
		}
	}
	if c.File() != "" {
		t.Errorf("no file expected, got %s", c.File())
	}
}

// Each pair of layers: the higher one wins, and Source says which.
func TestPrecedence_eachPair(t *testing.T) {
	file := writeFile(t, "patient_domain = \"file.example\"\n[trust]\nprofile = \"test\"\n")
	cases := []struct {
		name     string
		file     string
		env      []string
		args     []string
		want     string
		wantFrom string
	}{
		{"default", "", nil, nil, "patient.mssante.fr", "default"},
		{"file over default", file, nil, nil, "file.example", "file " + file},
		{"env over default", "", []string{"MSSANTE_PATIENT_DOMAIN", "env.example"}, nil, "env.example", "env MSSANTE_PATIENT_DOMAIN"},
		{"env over file", file, []string{"MSSANTE_PATIENT_DOMAIN", "env.example"}, nil, "env.example", "env MSSANTE_PATIENT_DOMAIN"},
		{"flag over default", "", nil, []string{"--patient-domain", "flag.example"}, "flag.example", "flag --patient-domain"},
		{"flag over file", file, nil, []string{"--patient-domain", "flag.example"}, "flag.example", "flag --patient-domain"},
		{"flag over env", "", []string{"MSSANTE_PATIENT_DOMAIN", "env.example"}, []string{"--patient-domain", "flag.example"}, "flag.example", "flag --patient-domain"},
		{"empty env is unset", file, []string{"MSSANTE_PATIENT_DOMAIN", ""}, nil, "file.example", "file " + file},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"--config", tc.file}, args...)
			}
			c, err := bind(t, env(t, tc.env...), args, "patient_domain", "trust.profile")
			if err != nil {
				t.Fatal(err)
			}
			if c.PatientDomain != tc.want || c.Source("patient_domain").String() != tc.wantFrom {
				t.Errorf("patient_domain = %q from %q, want %q from %q", c.PatientDomain, c.Source("patient_domain"), tc.want, tc.wantFrom)
			}
		})
	}
}

func TestPrecedence_configFileLocation(t *testing.T) {
	e := env(t)
	xdg, _ := e("XDG_CONFIG_HOME")
	def := filepath.Join(xdg, "mssante", "config.toml")
	if err := os.MkdirAll(filepath.Dir(def), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(def, []byte("patient_domain = \"xdg.example\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Options{Env: e})
	if err != nil || c.PatientDomain != "xdg.example" || c.File() != def {
		t.Fatalf("XDG file: %v, %+v", err, c)
	}
	other := writeFile(t, "patient_domain = \"named.example\"\n")
	e2 := func(n string) (string, bool) {
		if n == EnvConfig {
			return other, true
		}
		return e(n)
	}
	if c, err := Load(Options{Env: e2}); err != nil || c.PatientDomain != "named.example" {
		t.Fatalf("MSSANTE_CONFIG: %v %+v", err, c)
	}
	third := writeFile(t, "patient_domain = \"flag.example\"\n")
	if c, err := bind(t, e2, []string{"--config", third}, "patient_domain"); err != nil || c.PatientDomain != "flag.example" {
		t.Fatalf("--config over MSSANTE_CONFIG: %v %+v", err, c)
	}
	// A named file that does not exist is an error; the default one may be absent.
	if _, err := Load(Options{Env: e, File: filepath.Join(t.TempDir(), "none.toml")}); err == nil {
		t.Error("missing --config file accepted")
	}
}

func TestPrecedence_lists(t *testing.T) {
	file := writeFile(t, "[trust]\nroots = [\"/f1.pem\"]\nallow_relaxations = true\n")
	e := env(t, "MSSANTE_TRUST_ROOTS", "/e1.pem"+string(os.PathListSeparator)+"/e2.pem")
	c, err := bind(t, e, []string{"--config", file}, "trust.roots")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Trust.Roots, ",") != "/e1.pem,/e2.pem" {
		t.Errorf("env list: %v", c.Trust.Roots)
	}
	c, err = bind(t, e, []string{"--config", file, "--trust-root", "/a.pem", "--trust-root", "/b.pem"}, "trust.roots")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Trust.Roots, ",") != "/a.pem,/b.pem" || c.Source("trust.roots").String() != "flag --trust-root" {
		t.Errorf("flag list replaces the others: %v from %v", c.Trust.Roots, c.Source("trust.roots"))
	}
}

func TestFile_unknownKeyNamesKeyAndLine(t *testing.T) {
	file := writeFile(t, "data_dir = \"/tmp/x\"\n\n[trust]\nprofile = \"prod\"\nprofil = \"test\"\n\n[nosuch]\na = 1\nb = 2\n\n[[account]]\naddress = \"a@b.fr\"\ntokn_file = \"/t\"\n")
	_, err := Load(Options{Env: env(t), File: file})
	probs := problems(t, err)
	got := map[string]string{}
	for _, p := range probs {
		got[p.Key] = p.Msg
		if p.Source.Kind != FromFile || p.Source.Name != file {
			t.Errorf("%s: source %v", p.Key, p.Source)
		}
	}
	want := map[string]string{"trust.profil": "line 5: unknown key", "nosuch": "line 7: unknown key", "account.tokn_file": "line 13: unknown key"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q (all: %v)", k, got[k], v, probs)
		}
	}
	if len(probs) != len(want)+1 || !strings.Contains(err.Error(), `trust.profile (file `+file+`): "prod"`) {
		t.Errorf("want the unknown keys (children of an unknown table not again) and the bad profile: %v", probs)
	}
}

func TestFile_badTypeAndSyntax(t *testing.T) {
	for _, tc := range []struct{ text, key, msg string }{
		{"[trust]\ncrl_refresh = \"soon\"\n", "trust.crl_refresh", "line 2"},
		{"patient_domain = 42\n", "patient_domain", "line 1"},
		{"data_dir = \n", "", "line 1"},
	} {
		_, err := Load(Options{Env: env(t), File: writeFile(t, tc.text)})
		probs := problems(t, err)
		if len(probs) != 1 || !strings.Contains(probs[0].String(), tc.msg) || (tc.key != "" && !strings.Contains(probs[0].String(), tc.key)) {
			t.Errorf("%q: %v, want key %q and %q", tc.text, probs, tc.key, tc.msg)
		}
	}
}

func TestFile_secretRefused(t *testing.T) {
	_, err := Load(Options{Env: env(t), File: writeFile(t, "[annuaire.fhir]\napi_key = \"k\"\n")})
	probs := problems(t, err)
	if len(probs) != 1 || !strings.Contains(probs[0].Msg, "MSSANTE_FHIR_API_KEY") || !strings.Contains(probs[0].Msg, "line 2") {
		t.Errorf("secret in the file: %v", probs)
	}
}

func TestValidate_collectsEveryProblem(t *testing.T) {
	file := writeFile(t, `db = "mysql://x"
[trust]
roots = ["/r.pem"]
[[account]]
address = "app@hopital.test.mssante.fr"
token_file = "/t"
cert = "/c.pem"
key = "/k.pem"
[[account]]
address = "not an address"
`)
	e := env(t, "MSSANTE_PROFILE", "staging", "MSSANTE_CRL_REFRESH", "-1h", "MSSANTE_N1_AS_IS", "maybe")
	_, err := Load(Options{Env: e, File: file})
	probs := problems(t, err)
	text := err.Error()
	for _, want := range []string{
		"db (file " + file + "): unknown scheme",
		"trust.roots (file " + file + "): relaxes the strict default",
		"trust.profile (env MSSANTE_PROFILE)",
		"trust.crl_refresh (env MSSANTE_CRL_REFRESH)",
		"pdf.n1_as_is (env MSSANTE_N1_AS_IS)",
		"both a token file and a certificate",
		"account[1].address",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in\n%s", want, text)
		}
	}
	if len(probs) < 7 {
		t.Errorf("%d problems, want ≥ 7", len(probs))
	}
}

func TestValidate_relaxations(t *testing.T) {
	// By the flag: explicit, accepted.
	if _, err := bind(t, env(t), []string{"--trust-root", "/r.pem"}, "trust.roots"); err != nil {
		t.Errorf("--trust-root refused: %v", err)
	}
	// By the environment: refused without the explicit switch, accepted with it.
	if _, err := Load(Options{Env: env(t, "MSSANTE_SKIP_REVOCATION", "1")}); err == nil {
		t.Error("MSSANTE_SKIP_REVOCATION=1 accepted without MSSANTE_ALLOW_RELAXATIONS")
	}
	c, err := Load(Options{Env: env(t, "MSSANTE_SKIP_REVOCATION", "1", "MSSANTE_ALLOW_RELAXATIONS", "true")})
	if err != nil || !c.Trust.SkipRevocation {
		t.Errorf("allowed relaxation: %v", err)
	}
	// psc.any_acr is refused with the production PSC, whatever the source.
	if _, err := bind(t, env(t), []string{"--psc", "production", "--psc-any-acr"}, "psc.env", "psc.any_acr"); err == nil {
		t.Error("--psc-any-acr with --psc production accepted")
	}
}

func TestMailAccount_fromTable(t *testing.T) {
	file := writeFile(t, `[[account]]
address = "app@hopital.test.mssante.fr"
cert = "/c.pem"
key = "/k.pem"
imap = "imap.test:143"
[[account]]
address = "dr@test.mssante.fr"
token_file = "/tok"
`)
	c, err := bind(t, env(t), []string{"--config", file, "--account", "app@hopital.test.mssante.fr"}, "mail.account", "mail.token_file", "mail.cert", "mail.key")
	if err != nil {
		t.Fatal(err)
	}
	a := c.MailAccount()
	if a.Cert != "/c.pem" || a.Key != "/k.pem" || a.IMAP != "imap.test:143" || a.EffectiveFamily() != FamilyApplicative {
		t.Errorf("account from its table: %+v", a)
	}
	c, err = bind(t, env(t), []string{"--config", file, "--account", "dr@test.mssante.fr", "--token-file", "/other"}, "mail.account", "mail.token_file")
	if err != nil {
		t.Fatal(err)
	}
	if a := c.MailAccount(); a.TokenFile != "/other" || a.EffectiveFamily() != FamilyPersonal {
		t.Errorf("flag credentials override the table: %+v", a)
	}
}

// Secrets are never printed: not by show (JSON and text), fmt, or errors.
func TestSecret_neverPrinted(t *testing.T) {
	const key, pw = "fhir-key-SHOULD-NOT-APPEAR", "ldap-pw-SHOULD-NOT-APPEAR"
	c, err := Load(Options{Env: env(t, "MSSANTE_FHIR_API_KEY", key, "MSSANTE_LDAP_BIND_PASSWORD", pw,
		"MSSANTE_DB", "postgres://u:dbpass-SHOULD-NOT-APPEAR@h/db?sslmode=require&password=dbpass-SHOULD-NOT-APPEAR")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Annuaire.FHIR.APIKey.Reveal() != key {
		t.Fatal("secret not loaded")
	}
	var j, txt bytes.Buffer
	if err := c.WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	printed := j.String() + txt.String()
	for _, s := range []string{c.Annuaire.FHIR.APIKey.String(), c.Annuaire.FHIR.APIKey.GoString()} {
		printed += s
	}
	b, _ := json.Marshal(c)
	printed += string(b)
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		printed += sprintf(format, c) + sprintf(format, c.Annuaire.LDAP)
	}
	for _, secret := range []string{key, pw, "dbpass-SHOULD-NOT-APPEAR"} {
		if strings.Contains(printed, secret) {
			t.Errorf("secret %q printed", secret)
		}
	}
	if !strings.Contains(j.String(), `"annuaire.fhir.api_key": {"value":"(set)","source":"env MSSANTE_FHIR_API_KEY"}`) {
		t.Errorf("JSON does not say the secret is set:\n%s", j.String())
	}
	if !strings.Contains(txt.String(), "(set)") {
		t.Errorf("text does not say the secret is set:\n%s", txt.String())
	}
}

// The JSON contract of config show: one object, each key {"value", "source"}.
func TestShow_JSONContract(t *testing.T) {
	file := writeFile(t, "[trust]\nprofile = \"test\"\n[[account]]\naddress = \"dr@test.mssante.fr\"\ntoken_file = \"/tok\"\n")
	c, err := bind(t, env(t, "MSSANTE_DB", "sqlite:/tmp/x.db"), []string{"--config", file, "--patient-domain", "p.example"}, "patient_domain")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := c.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got map[string]struct {
		Value  any    `json:"value"`
		Source string `json:"source"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v:\n%s", err, buf.String())
	}
	want := map[string][2]any{
		"db":             {"sqlite:/tmp/x.db", "env MSSANTE_DB"},
		"trust.profile":  {"test", "file " + file},
		"patient_domain": {"p.example", "flag --patient-domain"},
		"message.nil":    {"MSSANTE-OSS", "default"},
		"config":         {file, "file " + file},
	}
	for k, w := range want {
		if got[k].Value != w[0] || got[k].Source != w[1] {
			t.Errorf("%s = %v from %q, want %v from %q", k, got[k].Value, got[k].Source, w[0], w[1])
		}
	}
	acc, _ := got["account"].Value.([]any)
	if len(acc) != 1 || got["account"].Source != "file "+file {
		t.Errorf("account: %+v", got["account"])
	}
	if len(got) != len(Fields())+2 {
		t.Errorf("%d keys, want every field plus config and account", len(got))
	}
}

func TestBind_flagsKeepNamesAndDefaults(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	Bind(fs, env(t), "trust.profile", "pdf.n1_as_is", "data_dir")
	if f := fs.Lookup("profile"); f == nil || f.DefValue != "production" || !strings.Contains(f.Usage, "MSSANTE_PROFILE") {
		t.Errorf("--profile: %+v", f)
	}
	if err := fs.Parse([]string{"--n1-as-is", "--profile=test"}); err != nil {
		t.Errorf("boolean flag alone: %v", err)
	}
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	Bind(fs, env(t), "trust.crl_refresh_x_missing_is_a_panic"[:0]+"audit.retention"[:0]+"server.idle_timeout")
	if err := fs.Parse([]string{"--idle-timeout", "soon"}); err == nil {
		t.Error("a bad duration flag is a parse (usage) error")
	}
}

func TestFields_table(t *testing.T) {
	envs := map[string]string{}
	for _, f := range Fields() {
		if f.Help == "" {
			t.Errorf("%s has no help", f.Key)
		}
		if f.Env == "" {
			t.Errorf("%s has no environment variable", f.Key)
		}
		if prev, dup := envs[f.Env]; dup {
			t.Errorf("%s and %s share %s", prev, f.Key, f.Env)
		}
		envs[f.Env] = f.Key
		if f.Secret && f.Flag != "" {
			t.Errorf("secret %s has a flag: secrets never go on the command line", f.Key)
		}
	}
}

// The generated example names every key of the file with a value of the right type: uncommented,
// it loads, and gives the defaults.
func TestExample_loadsUncommented(t *testing.T) {
	e := env(t)
	ex := Example(e)
	var lines []string
	accounts := false
	for _, l := range strings.Split(ex, "\n") {
		accounts = accounts || l == "# [[account]]"
		if !accounts && strings.HasPrefix(l, "# ") && strings.Contains(l, " = ") {
			l = strings.TrimPrefix(l, "# ")
		}
		lines = append(lines, l)
	}
	c, err := Load(Options{Env: e, File: writeFile(t, strings.Join(lines, "\n"))})
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(lines, "\n"))
	}
	for _, f := range Fields() {
		if f.InFile() && c.Source(f.Key).Kind != FromFile {
			t.Errorf("%s is not in the example", f.Key)
		}
	}
	if d := Defaults(e); c.PatientDomain != d.PatientDomain || c.Server.IdleTimeout != d.Server.IdleTimeout {
		t.Errorf("example values differ from the defaults")
	}
}

// ECO.1.1.7: trust.crl_refresh as trust.Options wants it: 0 downloads at each run (negative
// for trust), a duration keeps a cached CRL that long; a negative one is refused.
func TestCRLRefreshOption(t *testing.T) {
	for v, want := range map[string]time.Duration{"0": -1, "0s": -1, "10m": 10 * time.Minute} {
		c, err := Load(Options{Env: env(t, "MSSANTE_CRL_REFRESH", v)})
		if err != nil || c.Trust.CRLRefreshOption() != want {
			t.Errorf("MSSANTE_CRL_REFRESH=%q: %v, %v; want %v", v, c.Trust.CRLRefreshOption(), err, want)
		}
	}
	if _, err := Load(Options{Env: env(t, "MSSANTE_CRL_REFRESH", "-1h")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative MSSANTE_CRL_REFRESH: %v, want ErrInvalid", err)
	}
}

// Add extends a binding: the flags of both calls reach one Config, a key bound twice is
// declared once.
func TestBindingAdd(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	b := Bind(fs, env(t), "data_dir", "db")
	b.Add("db", "login.server")
	if err := fs.Parse([]string{"--data-dir", "/d", "--server", "https://lps.example"}); err != nil {
		t.Fatal(err)
	}
	c, err := b.Load()
	if err != nil || c.DataDir != "/d" || c.Login.Server != "https://lps.example" || string(c.DB) != "sqlite:/d/mssante.db" {
		t.Errorf("Load = %+v, %v", c, err)
	}
}

// --help shows the environment's value as the default, a database password redacted.
func TestBind_helpDefaultFromEnv(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	Bind(fs, env(t, "MSSANTE_PROFILE", "test", "MSSANTE_DB", "postgres://u:pw-NOT-SHOWN@h/db", "MSSANTE_IDLE_TIMEOUT", "soon"),
		"trust.profile", "db", "server.idle_timeout")
	for name, want := range map[string]string{"profile": "test", "db": "postgres://u:xxxxx@h/db", "idle-timeout": "30m0s"} {
		if got := fs.Lookup(name).DefValue; got != want {
			t.Errorf("--%s default %q, want %q", name, got, want)
		}
	}
}
