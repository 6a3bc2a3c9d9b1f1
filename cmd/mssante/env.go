package main

import (
	"os"
	"path/filepath"
)

// envOr returns the environment variable name, or def when it is unset or empty. Only cmd/ reads
// the environment (STYLE.md 8.5).
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// defaultDataDir is $MSSANTE_DATA_DIR, else $XDG_DATA_HOME/mssante, else ~/.local/share/mssante.
func defaultDataDir() string {
	if v := os.Getenv("MSSANTE_DATA_DIR"); v != "" {
		return v
	}
	if v := os.Getenv("XDG_DATA_HOME"); v != "" {
		return filepath.Join(v, "mssante")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "mssante")
	}
	return "mssante-data"
}

// dataDirFlag declares the --data-dir flag shared by the commands that keep state.
func dataDirFlag(fs interface {
	String(name, value, usage string) *string
}) *string {
	return fs.String("data-dir", defaultDataDir(), "`directory` of the store, caches and audit trail (env MSSANTE_DATA_DIR)")
}
