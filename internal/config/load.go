package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
)

// Lookup reads one environment variable (os.LookupEnv). An empty value counts as unset.
type Lookup func(name string) (string, bool)

// EnvConfig names the configuration file in the environment (after --config).
const EnvConfig = "MSSANTE_CONFIG"

// Options say where Load reads.
type Options struct {
	// Env is the environment; nil means none.
	Env Lookup
	// File is the configuration file named by --config; "" means $MSSANTE_CONFIG, else
	// $XDG_CONFIG_HOME/mssante/config.toml (~/.config/mssante/config.toml) when it exists.
	File string
	// Flags are the values of the flags set explicitly, by TOML key (Binding fills it).
	Flags map[string][]string
}

// ErrInvalid is wrapped by the *Error of Load: the configuration cannot be used as it is; the
// problems name the key, where its value came from and what is wrong.
var ErrInvalid = errors.New("invalid configuration")

// Problem is one thing wrong in the configuration.
type Problem struct {
	Key    string // TOML key, "" for the file itself
	Source Source
	Msg    string
}

func (p Problem) String() string {
	switch {
	case p.Key == "":
		return fmt.Sprintf("%s: %s", p.Source, p.Msg)
	case p.Source.Kind == FromDefault:
		return fmt.Sprintf("%s: %s", p.Key, p.Msg)
	}
	return fmt.Sprintf("%s (%s): %s", p.Key, p.Source, p.Msg)
}

// Error lists every problem found, so that they can all be fixed at once.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(ErrInvalid.Error())
	if len(e.Problems) == 1 {
		return b.String() + ": " + e.Problems[0].String()
	}
	fmt.Fprintf(&b, " (%d problems):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return ErrInvalid }

// Defaults returns the configuration of no file, no environment and no flag. env gives the
// XDG directories and HOME the defaults derive from.
func Defaults(env Lookup) *Config {
	c := &Config{sources: map[string]Source{}}
	for _, f := range fieldTable {
		if f.Default != "" {
			if err := f.set(c, f.Default, false); err != nil {
				panic("config: default of " + f.Key + ": " + err.Error())
			}
		}
	}
	c.DataDir = defaultDataDir(env)
	derive(c, env)
	return c
}

func get(env Lookup, name string) string {
	if env == nil {
		return ""
	}
	v, _ := env(name)
	return v
}

func defaultDataDir(env Lookup) string {
	if v := get(env, "XDG_DATA_HOME"); v != "" {
		return filepath.Join(v, "mssante")
	}
	if home := get(env, "HOME"); home != "" {
		return filepath.Join(home, ".local", "share", "mssante")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "mssante")
	}
	return "mssante-data"
}

// DefaultFile is $XDG_CONFIG_HOME/mssante/config.toml, else ~/.config/mssante/config.toml.
func DefaultFile(env Lookup) string {
	if v := get(env, "XDG_CONFIG_HOME"); v != "" {
		return filepath.Join(v, "mssante", "config.toml")
	}
	home := get(env, "HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".config", "mssante", "config.toml")
}

// derive fills the values that default from others, when no layer set them.
func derive(c *Config, env Lookup) {
	if c.Source("db").Kind == FromDefault && c.DB == "" {
		c.DB = DefaultDB(c.DataDir)
	}
	if c.Source("sandbox.dir").Kind == FromDefault && c.Sandbox.Dir == "" {
		c.Sandbox.Dir = filepath.Join(c.DataDir, "sandbox")
	}
	if c.Source("login.runtime_dir").Kind == FromDefault && c.Login.RuntimeDir == "" {
		if v := get(env, "XDG_RUNTIME_DIR"); v != "" {
			c.Login.RuntimeDir = filepath.Join(v, "mssante")
		} else {
			c.Login.RuntimeDir = filepath.Join(os.TempDir(), fmt.Sprintf("mssante-%d", os.Getuid()))
		}
	}
}

// Load builds the effective configuration: for each value the flag set explicitly, else the
// environment, else the file, else the default; then validates it. On a problem it returns a
// *Error listing them all (and no Config). It reads the file and nothing else.
func Load(o Options) (*Config, error) {
	c := Defaults(o.Env)
	c.DB, c.Sandbox.Dir, c.Login.RuntimeDir = "", "", "" // derived again at the end
	var probs []Problem

	path, src, explicit := o.File, Source{Kind: FromFlag, Name: "config"}, true
	if path == "" {
		path, src = get(o.Env, EnvConfig), Source{Kind: FromEnv, Name: EnvConfig}
	}
	if path == "" {
		path, src, explicit = DefaultFile(o.Env), Source{}, false
	}
	data, err := readFile(path)
	switch {
	case err == nil:
		c.file = path
		probs = append(probs, decodeFile(c, path, data)...)
	case explicit || !errors.Is(err, os.ErrNotExist):
		probs = append(probs, Problem{Source: src, Msg: fmt.Sprintf("reading the configuration file: %v", err)})
	}

	for _, f := range fieldTable {
		if f.Env == "" {
			continue
		}
		if v := get(o.Env, f.Env); v != "" {
			s := Source{Kind: FromEnv, Name: f.Env}
			if err := f.set(c, v, false); err != nil {
				probs = append(probs, Problem{Key: f.Key, Source: s, Msg: err.Error()})
				continue
			}
			c.sources[f.Key] = s
		}
	}
	for key, vals := range o.Flags {
		f, ok := lookupField(key)
		if !ok {
			probs = append(probs, Problem{Key: key, Msg: "no such configuration key"})
			continue
		}
		s := Source{Kind: FromFlag, Name: f.Flag}
		if f.List {
			f.value(c).Set(f.value(&Config{}))
		}
		for _, v := range vals {
			if err := f.set(c, v, true); err != nil {
				probs = append(probs, Problem{Key: f.Key, Source: s, Msg: err.Error()})
			}
		}
		c.sources[f.Key] = s
	}
	derive(c, o.Env)
	probs = append(probs, c.validate()...)
	if len(probs) > 0 {
		return nil, &Error{Problems: probs}
	}
	return c, nil
}

// readFile reads the configuration file (a variable for the fuzz target).
var readFile = os.ReadFile

// decodeFile decodes the TOML file onto c and records the keys it sets. Unknown keys and values
// of the wrong type are problems naming the key and its line.
func decodeFile(c *Config, path string, data []byte) []Problem {
	src := Source{Kind: FromFile, Name: path}
	fileCfg := *c
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&fileCfg)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return []Problem{{Key: pe.LastKey, Source: src, Msg: fmt.Sprintf("line %d: %s", pe.Position.Line, pe.Message)}}
		}
		return []Problem{{Source: src, Msg: err.Error()}}
	}
	var probs []Problem
	reported := map[string]bool{}
	for _, k := range md.Undecoded() {
		if parentReported(k, reported) {
			continue
		}
		reported[k.String()] = true
		msg := "unknown key"
		if f, ok := lookupField(k.String()); ok && f.Secret {
			msg = fmt.Sprintf("a secret is not read from the file: give it in %s, or name a file holding it", f.Env)
		}
		if line := keyLine(data, k); line > 0 {
			msg = fmt.Sprintf("line %d: %s", line, msg)
		}
		probs = append(probs, Problem{Key: k.String(), Source: src, Msg: msg})
	}
	// The known keys apply even next to an unknown one, so that every problem is reported.
	*c = fileCfg
	for _, f := range fieldTable {
		if f.InFile() && md.IsDefined(strings.Split(f.Key, ".")...) {
			c.sources[f.Key] = src
		}
	}
	if len(c.Accounts) > 0 {
		c.sources["account"] = src
	}
	return probs
}

func parentReported(k toml.Key, reported map[string]bool) bool {
	for i := 1; i < len(k); i++ {
		if reported[k[:i].String()] {
			return true
		}
	}
	return false
}

// keyLine finds the line of key k: the TOML decoder knows it but only tells it in the error of
// a value it could not decode, so the document is decoded again down to k, into a value that
// always refuses. 0 when not found.
func keyLine(data []byte, k toml.Key) int {
	var top map[string]toml.Primitive
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&top)
	if err != nil || len(k) == 0 {
		return 0
	}
	cur, ok := top[k[0]]
	for _, name := range k[1:] {
		if !ok {
			return 0
		}
		var m map[string]toml.Primitive
		if md.PrimitiveDecode(cur, &m) == nil {
			if p, found := m[name]; found {
				cur = p
				continue
			}
		}
		var list []map[string]toml.Primitive
		if md.PrimitiveDecode(cur, &list) != nil {
			return 0
		}
		ok = false
		for _, el := range list { // [[account]]: the first table holding the key
			if p, found := el[name]; found {
				cur, ok = p, true
				break
			}
		}
	}
	if !ok {
		return 0
	}
	var pe toml.ParseError
	if errors.As(md.PrimitiveDecode(cur, refuser{}), &pe) {
		return pe.Position.Line
	}
	return 0
}

// refuser fails every decoding, so that the decoder reports the key's position.
type refuser struct{}

func (refuser) UnmarshalTOML(any) error { return errors.New("refused") }
