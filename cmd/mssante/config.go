package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"

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
//
// A command binds its keys once per flag set: the connection flags (declareConn), the state
// flags (stateFlagsOf) and the command's own useConfig share one binding, so that the one
// Config they see holds every flag given. Flag structs whose fields other code reads
// (connFlags, stateFlags, serveFlags) are filled by onConfig once the flags are parsed, before
// the command runs (run in main.go calls configured).

// flagConfig is the configuration of one flag set: its binding, loaded once.
type flagConfig struct {
	b     *config.Binding
	once  sync.Once
	cfg   *config.Config
	err   error
	fills []func(*config.Config)
	// lenient: an invalid configuration is kept in invalid and the command runs on the flags
	// and the defaults (mssante doctor, which reports it).
	lenient bool
	invalid error
}

func (c *flagConfig) load() (*config.Config, error) {
	c.once.Do(func() {
		c.cfg, c.err = c.b.Load()
		if c.lenient && errors.Is(c.err, config.ErrInvalid) {
			c.invalid = c.err
			c.cfg, c.err = c.b.LoadDefaults()
		}
		if errors.Is(c.err, config.ErrInvalid) {
			c.err = &usageError{c.err.Error()}
		}
	})
	return c.cfg, c.err
}

// tolerateInvalidConfig makes the configuration of fs lenient (see flagConfig) and returns what
// was found invalid, once the flags are parsed: nil for a valid configuration.
func tolerateInvalidConfig(fs *flag.FlagSet) func() error {
	c := bindConfig(fs, nil)
	c.lenient = true
	return func() error {
		_, _ = c.load()
		return c.invalid
	}
}

// flagConfigs are the bindings of the flag sets being declared or parsed (run forgets each one
// once its command is parsed).
var flagConfigs = struct {
	sync.Mutex
	m map[*flag.FlagSet]*flagConfig
}{m: map[*flag.FlagSet]*flagConfig{}}

func bindConfig(fs *flag.FlagSet, keys []string) *flagConfig {
	flagConfigs.Lock()
	defer flagConfigs.Unlock()
	c := flagConfigs.m[fs]
	if c == nil {
		c = &flagConfig{b: config.Bind(fs, os.LookupEnv, keys...)}
		flagConfigs.m[fs] = c
	} else {
		c.b.Add(keys...)
	}
	return c
}

// useConfig declares on fs the flags of keys (and --config) and returns the loader to call once
// the flags are parsed. A configuration error is a usage error (exit 2). Every call on one flag
// set shares one binding and one Config.
func useConfig(fs *flag.FlagSet, keys ...string) func() (*config.Config, error) {
	return bindConfig(fs, keys).load
}

// onConfig is useConfig for a flag struct: fill receives the effective Config once the flags
// are parsed, before the command runs.
func onConfig(fs *flag.FlagSet, fill func(*config.Config), keys ...string) {
	c := bindConfig(fs, keys)
	c.fills = append(c.fills, fill)
}

// configured runs the fills of fs's configuration once its flags are parsed and forgets fs;
// with load false (--help, a flag error) it only forgets it.
func configured(fs *flag.FlagSet, load bool) error {
	flagConfigs.Lock()
	c := flagConfigs.m[fs]
	delete(flagConfigs.m, fs)
	flagConfigs.Unlock()
	if c == nil || !load || len(c.fills) == 0 {
		return nil
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	for _, fill := range c.fills {
		fill(cfg)
	}
	return nil
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
