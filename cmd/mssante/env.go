package main

import (
	"os"

	"github.com/mssante/mssante/internal/config"
)

// The helpers below serve the command files not yet on internal/config (transport, watch, login,
// sandbox, serve, audit, patients): they read the environment only, not the configuration file.
// New code uses useConfig (config.go). Only cmd/ reads the environment (STYLE.md 8.5).

// envOr returns the environment variable name, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// defaultDataDir is $MSSANTE_DATA_DIR, else the default of internal/config
// ($XDG_DATA_HOME/mssante, else ~/.local/share/mssante).
func defaultDataDir() string {
	return envOr("MSSANTE_DATA_DIR", config.Defaults(os.LookupEnv).DataDir)
}

// dataDirFlag declares the --data-dir flag shared by the commands that keep state.
func dataDirFlag(fs interface {
	String(name, value, usage string) *string
}) *string {
	return fs.String("data-dir", defaultDataDir(), "`directory` of the store, caches and audit trail (env MSSANTE_DATA_DIR)")
}
