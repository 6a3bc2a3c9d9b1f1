package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/mssante/mssante/ins"
)

// The patient domain is read one way by every command (issue 12 item 4): the flag, else
// MSSANTE_PATIENT_DOMAIN, else the configuration file ($XDG_CONFIG_HOME/mssante/config.toml),
// else patient.mssante.fr. ECO.2.2.6.
func TestPatientsAddress_domainPrecedence(t *testing.T) {
	dir := t.TempDir()
	conf := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", conf)
	t.Setenv("MSSANTE_CONFIG", "")
	t.Setenv("MSSANTE_PATIENT_DOMAIN", "")
	nir := testNIR(t, "2790351215189")
	if code, _, stderr := runPatients(t, dir, "patients", "add", "--ins", nir, "--oid", string(ins.OIDTest),
		"--birth-name", "LEFÈVRE", "--first-name", "Héloïse", "--birth-date", "1979-03-12", "--sex", "F",
		"--status", "qualifiee"); code != 0 {
		t.Fatalf("patients add: exit %d: %s", code, stderr)
	}
	address := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := runPatients(t, dir, append([]string{"patients", "address", "--ins", nir}, args...)...)
		var got addressJSON
		if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil {
			t.Fatalf("patients address %v: exit %d, %s%s", args, code, stdout, stderr)
		}
		return got.Address
	}
	if got, want := address(), nir+"@"+ins.DefaultPatientDomain; got != want {
		t.Errorf("default: %s, want %s", got, want)
	}
	if err := os.MkdirAll(filepath.Join(conf, "mssante"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(conf, "mssante", "config.toml"), []byte("patient_domain = \"file.example\"\n"))
	if got, want := address(), nir+"@file.example"; got != want {
		t.Errorf("file: %s, want %s", got, want)
	}
	t.Setenv("MSSANTE_PATIENT_DOMAIN", "env.example")
	if got, want := address(), nir+"@env.example"; got != want {
		t.Errorf("environment over file: %s, want %s", got, want)
	}
	if got, want := address("--patient-domain", "flag.example"), nir+"@flag.example"; got != want {
		t.Errorf("flag over environment: %s, want %s", got, want)
	}

	// config show names where each value came from, the keys of every command included.
	out, errOut, code := runMain(t, "config", "show", "--json", "--data-dir", dir)
	var shown map[string]struct {
		Value  any    `json:"value"`
		Source string `json:"source"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &shown) != nil {
		t.Fatalf("config show: exit %d, %s%s", code, out, errOut)
	}
	for key, source := range map[string]string{
		"patient_domain": "env MSSANTE_PATIENT_DOMAIN", "data_dir": "flag --data-dir", "login.runtime_dir": "default",
		"audit.retention": "default", "sandbox.dir": "default", "server.idle_timeout": "default", "mail.account": "default",
	} {
		if shown[key].Source != source {
			t.Errorf("config show %s: source %q, want %q", key, shown[key].Source, source)
		}
	}
}

func writeConfigFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
