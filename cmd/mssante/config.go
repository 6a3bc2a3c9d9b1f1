package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/mssante/mssante/internal/config"
)

// The configuration of every command comes from internal/config: flags > MSSANTE_… environment
// > config.toml > defaults. A command declares the flags it takes from the field table with
// useConfig and loads the effective configuration in its run function:
//
//	conf := useConfig(fs, "data_dir", "trust.profile")
//	return func(ctx context.Context, env *cmdEnv, args []string) error {
//		cfg, err := conf()
//		…
//
// `mssante config show` prints the effective configuration and where each value came from.

// useConfig declares on fs the flags of keys (and --config) and returns the loader to call once
// the flags are parsed. A configuration error is a usage error (exit 2).
func useConfig(fs *flag.FlagSet, keys ...string) func() (*config.Config, error) {
	b := config.Bind(fs, os.LookupEnv, keys...)
	return func() (*config.Config, error) { return loadConfig(b) }
}

func loadConfig(b *config.Binding) (*config.Config, error) {
	cfg, err := b.Load()
	if errors.Is(err, config.ErrInvalid) {
		return nil, &usageError{err.Error()}
	}
	return cfg, err
}

func init() {
	register(&command{
		name:    "config show",
		summary: "print the effective configuration and where each value comes from (secrets are never printed)",
		usage:   "config show [--json] [--config FILE] [any configuration flag]…",
		example: "mssante config show --json",
		flags: func(fs *flag.FlagSet) runFunc {
			asJSON := fs.Bool("json", false, "print one JSON object {\"key\": {\"value\": …, \"source\": …}} instead of a table")
			b := config.BindAll(fs, os.LookupEnv)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				cfg, err := loadConfig(b)
				if err != nil {
					return err
				}
				if *asJSON {
					return cfg.WriteJSON(env.stdout)
				}
				return cfg.WriteText(env.stdout)
			}
		},
	})
	register(&command{
		name:    "config example",
		summary: "print a commented configuration file with every key, its variable, flag and default",
		usage:   "config example",
		example: "mssante config example > ~/.config/mssante/config.toml",
		flags: func(fs *flag.FlagSet) runFunc {
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				_, err := fmt.Fprint(env.stdout, config.Example(os.LookupEnv))
				return err
			}
		},
	})
	register(&command{
		name:    "config check",
		summary: "validate the configuration (file, environment, flags) and list every problem",
		usage:   "config check [--config FILE] [any configuration flag]…",
		example: "mssante config check --config /etc/mssante/config.toml",
		flags: func(fs *flag.FlagSet) runFunc {
			b := config.BindAll(fs, os.LookupEnv)
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) != 0 {
					return usagef("no argument expected")
				}
				cfg, err := b.Load()
				if err != nil {
					return err // exit 1: the configuration is refused
				}
				file := cfg.File()
				if file == "" {
					file = "no configuration file"
				}
				fmt.Fprintf(env.stderr, "mssante config check: configuration valid (%s)\n", file)
				return nil
			}
		},
	})
}
