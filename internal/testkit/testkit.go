// Package testkit holds the small helpers the tests of every package share: where the outside
// material of ../shared is, and how a test that needs a real peer (a Debian program, a server)
// skips on a developer's machine but fails in CI.
//
// Two environment variables, set by scripts/test.sh under CI, make the outside world mandatory:
//
//	MSSANTE_REQUIRE_SHARED=1   a test that needs ../shared fails when it is missing
//	MSSANTE_REQUIRE_PEERS=1    a test that needs a program (java, pdftotext, slapd, dovecot…) fails
//	                           when it is missing
//
// MSSANTE_SHARED names the shared folder explicitly; by default it is "../shared" next to the
// module root.
package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// ModuleRoot returns the directory holding go.mod, found upwards from the working directory.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// SharedDir returns the path of the shared folder (spec, corpus, igc-sante), or skips the test
// when it is absent, unless MSSANTE_REQUIRE_SHARED=1, in which case the test fails.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("MSSANTE_SHARED")
	if dir == "" {
		dir = filepath.Join(ModuleRoot(t), "..", "shared")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		missing(t, "MSSANTE_REQUIRE_SHARED", "shared folder %s not found", dir)
	}
	return dir
}

// Shared returns the path of a file or folder inside the shared folder, or skips (fails in CI) when
// it does not exist.
func Shared(t testing.TB, elem ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{SharedDir(t)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		missing(t, "MSSANTE_REQUIRE_SHARED", "%s not found", p)
	}
	return p
}

// LookPath returns the path of program, or skips the test when it is not installed, unless
// MSSANTE_REQUIRE_PEERS=1, in which case the test fails.
func LookPath(t testing.TB, program string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err != nil {
		missing(t, "MSSANTE_REQUIRE_PEERS", "%s not installed (scripts/test.sh installs it)", program)
	}
	return p
}

// RequireFile returns path when it exists, or skips (fails under MSSANTE_REQUIRE_PEERS=1).
// It serves peers that are files rather than programs, such as a Java archive.
func RequireFile(t testing.TB, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		missing(t, "MSSANTE_REQUIRE_PEERS", "%s not found (scripts/test.sh installs it)", path)
	}
	return path
}

// PeersRequired reports whether missing peers are failures (CI) rather than skips.
func PeersRequired() bool { return os.Getenv("MSSANTE_REQUIRE_PEERS") == "1" }

func missing(t testing.TB, env, format string, args ...any) {
	t.Helper()
	if os.Getenv(env) == "1" {
		t.Fatalf(format+" (required: "+env+"=1)", args...)
	}
	t.Skipf(format, args...)
}
