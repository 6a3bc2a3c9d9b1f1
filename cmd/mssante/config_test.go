package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mssante/mssante/internal/config"
)

// TestMain keeps the developer's own configuration file out of every test of the package (and
// of the processes they start): XDG_CONFIG_HOME is an empty directory, MSSANTE_CONFIG unset.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mssante-cmd-config-")
	if err != nil {
		panic(err)
	}
	_ = os.Setenv("XDG_CONFIG_HOME", dir)
	_ = os.Unsetenv("MSSANTE_CONFIG")
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// isolateConfig points the configuration file and data directories of the in-process CLI at a
// temporary directory, so that the developer's own ~/.config/mssante is never read.
func isolateConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	t.Setenv("MSSANTE_CONFIG", "")
	return dir
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The JSON contract of "config show --json": one object, each key {"value", "source"}, the
// sources of each layer named.
func TestConfigShow_JSON(t *testing.T) {
	isolateConfig(t)
	file := writeConfig(t, "[trust]\nprofile = \"test\"\n")
	t.Setenv("MSSANTE_DB", "postgres://mssante@db.example/mssante")
	out, errOut, code := runMain(t, "config", "show", "--json", "--config", file, "--patient-domain", "patient.example.fr")
	if code != 0 {
		t.Fatalf("config show: code %d, %s", code, errOut)
	}
	var got map[string]struct {
		Value  any    `json:"value"`
		Source string `json:"source"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	for key, want := range map[string][2]string{
		"trust.profile":  {"test", "file " + file},
		"db":             {"postgres://mssante@db.example/mssante", "env MSSANTE_DB"},
		"patient_domain": {"patient.example.fr", "flag --patient-domain"},
		"message.nil":    {"MSSANTE-OSS", "default"},
	} {
		if got[key].Value != want[0] || got[key].Source != want[1] {
			t.Errorf("%s = %v from %q, want %v from %q", key, got[key].Value, got[key].Source, want[0], want[1])
		}
	}
}

// Secrets are never printed by "config show", in JSON or as a table; they show as "(set)".
func TestConfigShow_secretsNeverPrinted(t *testing.T) {
	isolateConfig(t)
	t.Setenv("MSSANTE_FHIR_API_KEY", "fhir-key-MUST-NOT-PRINT")
	t.Setenv("MSSANTE_LDAP_BIND_PASSWORD", "ldap-pw-MUST-NOT-PRINT")
	t.Setenv("MSSANTE_DB", "postgres://u:db-pw-MUST-NOT-PRINT@h/db")
	for _, args := range [][]string{{"config", "show"}, {"config", "show", "--json"}} {
		out, errOut, code := runMain(t, args...)
		if code != 0 {
			t.Fatalf("%v: code %d, %s", args, code, errOut)
		}
		if strings.Contains(out+errOut, "MUST-NOT-PRINT") {
			t.Errorf("%v printed a secret:\n%s", args, out)
		}
		if !strings.Contains(out, "(set)") {
			t.Errorf("%v does not say the secrets are set:\n%s", args, out)
		}
	}
	// A problem report does not print them either.
	_, errOut, code := runMain(t, "config", "check", "--profile", "nope")
	if code != 1 || !strings.Contains(errOut, "trust.profile (flag --profile)") || strings.Contains(errOut, "MUST-NOT-PRINT") {
		t.Errorf("config check: code %d, %s", code, errOut)
	}
}

// A configuration problem is a usage error (exit 2) naming the key and its source, all at once.
func TestConfig_problemsExit2(t *testing.T) {
	isolateConfig(t)
	file := writeConfig(t, "patient_domain = \"patient.mssante.fr\"\npatient_domian = \"x\"\n")
	t.Setenv("MSSANTE_CRL_REFRESH", "later")
	_, errOut, code := runMain(t, "ins", "check", "279035121518989", "--config", file)
	if code != 2 || !strings.Contains(errOut, "patient_domian (file "+file+"): line 2: unknown key") ||
		!strings.Contains(errOut, "trust.crl_refresh (env MSSANTE_CRL_REFRESH)") {
		t.Errorf("code %d, %s", code, errOut)
	}
}

// The patient domain: one key, honoured from the environment and the file by every command
// that builds or reads patient addresses (ECO.2.2.6).
func TestConfig_patientDomainOnePlace(t *testing.T) {
	isolateConfig(t)
	t.Setenv("MSSANTE_PATIENT_DOMAIN", "patient.env.example")
	out, _, code := runMain(t, "ins", "check", "279035121518989", "--oid", "1.2.250.1.213.1.4.10")
	if code != 0 || !strings.Contains(out, "279035121518989@patient.env.example") {
		t.Errorf("ins check with MSSANTE_PATIENT_DOMAIN: code %d, %s", code, out)
	}
	t.Setenv("MSSANTE_PATIENT_DOMAIN", "")
	file := writeConfig(t, "patient_domain = \"patient.file.example\"\n")
	out, _, code = runMain(t, "ins", "address", "--ins", "279035121518989", "--derogation", "--config", file)
	if code != 0 || !strings.Contains(out, "279035121518989@patient.file.example") {
		t.Errorf("ins address with the file: code %d, %s", code, out)
	}
	t.Setenv("MSSANTE_CONFIG", file)
	out, _, code = runMain(t, "ins", "check", "279035121518989", "--patient-domain", "patient.flag.example")
	if code != 0 || !strings.Contains(out, "@patient.flag.example") {
		t.Errorf("the flag over MSSANTE_CONFIG's file: code %d, %s", code, out)
	}
}

// Environment-only knobs are still honoured by the rewired commands: MSSANTE_NIL (compose),
// MSSANTE_PROFILE (trust show).
func TestConfig_envKnobsHonoured(t *testing.T) {
	dir := isolateConfig(t)
	t.Setenv("MSSANTE_NIL", "NIL-FROM-ENV")
	eml := filepath.Join(dir, "out.eml")
	out, errOut, code := runMain(t, "compose", "--from", "marie.martin@medecin.mssante.fr", "--from-label", "Dr Marie MARTIN",
		"--to", "jean.dupont@medecin.mssante.fr", "--subject", "Bonjour", "-o", eml)
	if code != 0 || !strings.Contains(out, `"X-MSS-NIL": "NIL-FROM-ENV"`) {
		t.Errorf("compose with MSSANTE_NIL: code %d, %s %s", code, out, errOut)
	}
	t.Setenv("MSSANTE_PROFILE", "test")
	out, errOut, code = runMain(t, "trust", "show")
	if code != 0 || !strings.Contains(out, `"profile": "test"`) || !strings.Contains(out, filepath.Join(dir, "data", "mssante", "trust")) {
		t.Errorf("trust show with MSSANTE_PROFILE and XDG_DATA_HOME: code %d, %s %s", code, out, errOut)
	}
}

// A TLS relaxation from the environment needs the explicit switch; --trust-root is explicit.
func TestConfig_relaxationFromEnvRefused(t *testing.T) {
	isolateConfig(t)
	t.Setenv("MSSANTE_TRUST_ROOTS", "/nonexistent/root.pem")
	_, errOut, code := runMain(t, "trust", "verify", "127.0.0.1:1")
	if code != 2 || !strings.Contains(errOut, "trust.roots (env MSSANTE_TRUST_ROOTS): relaxes the strict default") {
		t.Errorf("code %d, %s", code, errOut)
	}
}

// Every MSSANTE_… variable named by the code of cmd/mssante is a key of internal/config: no
// knob outside the one configuration (and its inventory in the package doc).
func TestConfig_everyVariableInTheTable(t *testing.T) {
	// envCPUProfile is a diagnostic of the process (profile.go), not a setting of the product.
	known := map[string]bool{config.EnvConfig: true, envCPUProfile: true}
	for _, f := range config.Fields() {
		known[f.Env] = true
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`MSSANTE_[A-Z0-9_]+`)
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range re.FindAllString(string(b), -1) {
			if !known[v] {
				t.Errorf("%s names %s, which internal/config does not know", name, v)
			}
		}
	}
}
