package config

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"strings"
)

// Binding joins a command's flag set to the configuration: Bind declares the flags of the
// fields the command uses, and Load, after the flags are parsed, builds the effective Config.
type Binding struct {
	fs     *flag.FlagSet
	env    Lookup
	file   *string
	values map[string]*flagValue // TOML key → its flag
}

// Bind declares on fs the flags of the fields named by keys (TOML keys: "data_dir",
// "trust.profile"), with their names, defaults and help from the field table, and --config
// FILE. A key whose field has no flag panics (a programming error), as does a flag declared
// twice. env gives the defaults shown by --help (its value of a variable, else the default; a
// database password redacted) and, later, the environment layer.
func Bind(fs *flag.FlagSet, env Lookup, keys ...string) *Binding {
	b := &Binding{fs: fs, env: env, values: map[string]*flagValue{}}
	if fs.Lookup("config") == nil {
		b.file = fs.String("config", "", "configuration `file` (env "+EnvConfig+"; default $XDG_CONFIG_HOME/mssante/config.toml)")
	}
	b.Add(keys...)
	return b
}

// Add declares the flags of more keys on the flag set of b, for a command whose flags come
// from several places (the connection flags, then the command's own). A key already bound is
// skipped; a key whose field has no flag panics, as in Bind.
func (b *Binding) Add(keys ...string) {
	defaults := Defaults(b.env)
	for _, key := range keys {
		if _, done := b.values[key]; done {
			continue
		}
		f, ok := lookupField(key)
		if !ok || f.Flag == "" {
			panic("config.Bind: no flag for key " + key)
		}
		v := &flagValue{field: f}
		if e := get(b.env, f.Env); e != "" && !f.Secret {
			_ = f.set(defaults, e, false) // a bad value leaves the default; Load reports it
		}
		if !f.value(defaults).IsZero() {
			v.def = f.text(defaults) // the environment's value, else the default; a zero one is not shown
		}
		b.fs.Var(v, f.Flag, f.usage())
		b.values[key] = v
	}
}

// BindAll declares the flag of every field that has one, the first field of a flag name
// winning (sandbox.dir shares --data-dir with data_dir), for "config show".
func BindAll(fs *flag.FlagSet, env Lookup) *Binding {
	var keys []string
	names := map[string]bool{}
	for _, f := range fieldTable {
		if f.Flag != "" && !names[f.Flag] && fs.Lookup(f.Flag) == nil {
			names[f.Flag] = true
			keys = append(keys, f.Key)
		}
	}
	return Bind(fs, env, keys...)
}

// Load builds the effective configuration once the flags are parsed: a flag set explicitly,
// else the environment, else the file, else the default. See the package Load.
func (b *Binding) Load() (*Config, error) {
	o := Options{Env: b.env, Flags: map[string][]string{}}
	if b.file != nil {
		o.File = *b.file
	} else if f := b.fs.Lookup("config"); f != nil {
		o.File = f.Value.String()
	}
	for key, v := range b.values {
		if v.set {
			o.Flags[key] = v.raw
		}
	}
	return Load(o)
}

// LoadDefaults is Load without the configuration file and the MSSANTE_ environment: the flags set
// over the defaults. `mssante doctor` runs on it when Load finds the configuration invalid, so
// that it reports the problems along with its other checks instead of stopping at them.
func (b *Binding) LoadDefaults() (*Config, error) {
	env := func(key string) (string, bool) {
		if strings.HasPrefix(key, "MSSANTE_") || b.env == nil {
			return "", false
		}
		return b.env(key)
	}
	o := Options{Env: env, File: os.DevNull, Flags: map[string][]string{}}
	for key, v := range b.values {
		if v.set {
			o.Flags[key] = v.raw
		}
	}
	return Load(o)
}

// flagValue is the flag of one field: it checks the text at once (a bad duration is a usage
// error) and keeps it for Load.
type flagValue struct {
	field Field
	def   string
	raw   []string
	set   bool
}

func (v *flagValue) String() string {
	if v == nil {
		return ""
	}
	if v.set {
		return strings.Join(v.raw, v.field.sep)
	}
	return v.def
}

func (v *flagValue) Set(s string) error {
	var probe Config
	if err := v.field.set(&probe, s, true); err != nil {
		return fmt.Errorf("%v", err)
	}
	if v.field.List {
		v.raw = append(v.raw, s)
	} else {
		v.raw = []string{s}
	}
	v.set = true
	return nil
}

// ArgName names the flag's argument when its help does not (flag.UnquoteUsage says "value" for
// any flag.Value): "duration" or "string", as for the flags of the flag package.
func (v *flagValue) ArgName() string {
	switch {
	case v.field.typ == durationType:
		return "duration"
	case v.field.typ.Kind() == reflect.String:
		return "string"
	}
	return "value"
}

// IsBoolFlag lets a boolean field be given as --flag alone.
func (v *flagValue) IsBoolFlag() bool { return v != nil && v.field.typ.Kind() == reflect.Bool }
