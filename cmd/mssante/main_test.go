package main

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// runMain runs the CLI in-process and returns its streams and exit code.
func runMain(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), &cmdEnv{stdout: &out, stderr: &errb, stdin: strings.NewReader("")}, args)
	return out.String(), errb.String(), code
}

// Every subcommand answers --help with its usage and an example, exit 0.
func TestHelp_everyCommand(t *testing.T) {
	for name, c := range commands {
		args := append(strings.Fields(name), "--help")
		out, errOut, code := runMain(t, args...)
		if code != 0 || !strings.Contains(out, "usage: mssante "+c.usage) || errOut != "" {
			t.Errorf("%s --help: code %d, stdout %q, stderr %q", name, code, out, errOut)
		}
		if c.example == "" || !strings.Contains(out, "example:") {
			t.Errorf("%s --help shows no example", name)
		}
		if !strings.HasPrefix(c.example, "mssante "+name) {
			t.Errorf("%s: example %q does not run the command", name, c.example)
		}
	}
	if out, _, code := runMain(t, "--help"); code != 0 || !strings.Contains(out, "ins check") {
		t.Errorf("mssante --help: code %d, %q", code, out)
	}
}

func TestRun_usageErrorsExit2(t *testing.T) {
	if _, errOut, code := runMain(t, "no-such-command"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: code %d, %q", code, errOut)
	}
	if _, _, code := runMain(t, "ins", "check"); code != 2 {
		t.Errorf("ins check without argument: code %d, want 2", code)
	}
	if _, _, code := runMain(t, "ins", "check", "--no-such-flag", "x"); code != 2 {
		t.Errorf("unknown flag: code %d, want 2", code)
	}
	if out, _, code := runMain(t, "ins"); code != 0 || !strings.Contains(out, "ins check") {
		t.Errorf("group alone lists its commands: code %d, %q", code, out)
	}
}

// ECO.2.2.6: the CLI contract of "ins check", flags after the positional argument included.
func TestINSCheck(t *testing.T) {
	out, _, code := runMain(t, "ins", "check", "279035121518989", "--oid", "1.2.250.1.213.1.4.10")
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 {
		t.Fatalf("ins check: code %d, %v: %s", code, err, out)
	}
	want := map[string]any{"matricule": "279035121518989", "valid": true, "kind": "NIR", "sex": "F",
		"birth_year": 1979.0, "birth_month": 3.0, "address": "279035121518989@patient.mssante.fr"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("ins check: %s = %v, want %v", k, got[k], v)
		}
	}
	out, errOut, code := runMain(t, "ins", "check", "221042545611404")
	if code != 1 || !strings.Contains(errOut, "key") || !strings.Contains(out, `"valid": false`) || !strings.Contains(out, `"address": null`) {
		t.Errorf("wrong key: code %d, stdout %s, stderr %s", code, out, errOut)
	}
	out, _, code = runMain(t, "ins", "check", "279035121518989", "--oid", "1.2.250.1.213.1.4.2")
	if code != 1 || !strings.Contains(out, `"address": null`) {
		t.Errorf("legacy OID must give no address: code %d, %s", code, out)
	}
	out, _, code = runMain(t, "ins", "check", "185207512345622")
	if code != 0 || !strings.Contains(out, `"birth_month": null`) {
		t.Errorf("unknown month: code %d, %s", code, out)
	}
}

// ECO.2.2.6: an address only from a qualified identity; the derogation returns what to confirm.
func TestINSAddress(t *testing.T) {
	base := []string{"ins", "address", "--ins", "279035121518989", "--oid", "1.2.250.1.213.1.4.10", "--birth-name", "PAT-TROIS", "--first-name", "DOMINIQUE", "--birth-date", "1979-03-28"}
	if out, _, code := runMain(t, append(base, "--sex", "F")...); code != 0 || !strings.Contains(out, "279035121518989@patient.mssante.fr") {
		t.Errorf("qualified: code %d, %s", code, out)
	}
	if _, errOut, code := runMain(t, base...); code != 1 || !strings.Contains(errOut, "sexe") || !strings.Contains(errOut, "dérogation") {
		t.Errorf("no sex: code %d, %s", code, errOut)
	}
	out, _, code := runMain(t, "ins", "address", "--ins", "279035121518989", "--derogation")
	if code != 0 || !strings.Contains(out, `"confirm_required": true`) || !strings.Contains(out, `"birth_year": 1979`) {
		t.Errorf("derogation: code %d, %s", code, out)
	}
	if _, _, code := runMain(t, "ins", "address", "--ins", "221042545611404", "--derogation"); code != 1 {
		t.Errorf("derogation with a wrong key: code %d, want 1", code)
	}
}

// Issue 11 item 5: --help spells the flags as the usage lines do, "--flag", and states each
// default once.
func TestHelp_flagsSpelledAsUsage(t *testing.T) {
	for name := range commands {
		out, _, _ := runMain(t, append(strings.Fields(name), "--help")...)
		_, flags, _ := strings.Cut(out, "\nflags:\n")
		flags, _, _ = strings.Cut(flags, "\nexample:")
		var entries []string
		for _, line := range strings.Split(strings.TrimRight(flags, "\n"), "\n") {
			switch {
			case strings.HasPrefix(line, "  --"):
				entries = append(entries, line)
			case strings.HasPrefix(line, "        ") && len(entries) > 0:
				entries[len(entries)-1] += "\n" + line
			case line != "":
				t.Errorf("%s --help: flag line %q not spelled --flag", name, line)
			}
		}
		for _, e := range entries {
			if strings.Count(e, "(default") > 1 || strings.Contains(e, "(default") && strings.Count(e, "default") > 1 {
				t.Errorf("%s --help: default stated twice in %q", name, e)
			}
		}
	}
	out, _, _ := runMain(t, "serve", "--help")
	if !strings.Contains(out, "  --idle-timeout duration\n        end a session unused this long (env MSSANTE_IDLE_TIMEOUT, config server.idle_timeout) (default 30m0s)\n") {
		t.Errorf("serve --help:\n%s", out)
	}
	if !strings.Contains(out, "  --psc-discovery-url URL\n        PSC discovery URL (default issuer + /.well-known/wallet-openid-configuration) (env MSSANTE_PSC_DISCOVERY_URL, config psc.discovery_url)\n") {
		t.Errorf("serve --help repeats or loses a default the text states:\n%s", out)
	}
}

// Issue 11 item 5: --version prints the module version, the VCS commit and the Go version.
func TestVersion(t *testing.T) {
	out, errOut, code := runMain(t, "--version")
	if code != 0 || errOut != "" || !strings.HasPrefix(out, "mssante ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("--version: code %d, %q %q", code, out, errOut)
	}
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/mssante/mssante", Version: "v0.3.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "554e266ec6b8"}, {Key: "vcs.time", Value: "2026-12-02T15:07:35Z"},
			{Key: "vcs.modified", Value: "true"}}}
	if got, want := versionLine(bi, true), "mssante v0.3.0 commit 554e266ec6b8 (modified) 2026-12-02T15:07:35Z go1.26.8"; got != want {
		t.Errorf("versionLine = %q, want %q", got, want)
	}
	bi.Settings = nil
	if got := versionLine(bi, true); !strings.Contains(got, "v0.3.0") || !strings.Contains(got, "commit unknown") {
		t.Errorf("versionLine without VCS = %q", got)
	}
}
