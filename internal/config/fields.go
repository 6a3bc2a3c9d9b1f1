package config

import (
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// SourceKind orders the layers: a later kind overrides an earlier one.
type SourceKind int

// The layers, lowest first.
const (
	FromDefault SourceKind = iota
	FromFile
	FromEnv
	FromFlag
)

// Source is where one value came from: "default", "file PATH", "env NAME" or "flag --NAME".
type Source struct {
	Kind SourceKind
	Name string // the file path, variable or flag name
}

func (s Source) String() string {
	switch s.Kind {
	case FromFile:
		return "file " + s.Name
	case FromEnv:
		return "env " + s.Name
	case FromFlag:
		return "flag --" + s.Name
	}
	return "default"
}

// MarshalText gives String, for JSON.
func (s Source) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Field describes one value of Config: its keys in each layer.
type Field struct {
	Key        string // TOML key, dotted: "trust.profile"
	Env        string // environment variable, "" when none
	Flag       string // flag name without dashes, "" when none
	Default    string // static default as text ("" when none or derived)
	Help       string // help with {word} marking the flag's argument name
	Secret     bool   // a Secret: never printed
	Relaxation bool   // relaxes a strict default: from file or env it needs trust.allow_relaxations
	List       bool   // repeatable flag; separator-separated in the environment

	sep   string
	index []int
	typ   reflect.Type
}

var (
	secretType   = reflect.TypeOf(Secret{})
	durationType = reflect.TypeOf(time.Duration(0))
	fieldTable   = buildFields(reflect.TypeOf(Config{}), "", nil)
)

// Fields returns the field table, in the order of Config.
func Fields() []Field { return append([]Field(nil), fieldTable...) }

func lookupField(key string) (Field, bool) {
	for _, f := range fieldTable {
		if f.Key == key {
			return f, true
		}
	}
	return Field{}, false
}

func buildFields(t reflect.Type, prefix string, index []int) []Field {
	var out []Field
	for i := range t.NumField() {
		sf := t.Field(i)
		name := sf.Tag.Get("toml")
		if !sf.IsExported() || sf.Type.Kind() == reflect.Slice && sf.Type.Elem().Kind() == reflect.Struct {
			continue // unexported bookkeeping, [[account]]
		}
		idx := append(append([]int(nil), index...), i)
		if sf.Type.Kind() == reflect.Struct && sf.Type != secretType {
			out = append(out, buildFields(sf.Type, prefix+name+".", idx)...)
			continue
		}
		key := name
		if name == "-" { // secrets: environment only, keyed by their Go name for show
			key = strings.ToLower(sf.Name)
			if sf.Name == "APIKey" {
				key = "api_key"
			} else if sf.Name == "BindPassword" {
				key = "bind_password"
			}
		}
		f := Field{Key: prefix + key, Env: sf.Tag.Get("env"), Flag: sf.Tag.Get("flag"), Default: sf.Tag.Get("default"),
			Help: sf.Tag.Get("help"), Secret: sf.Type == secretType, Relaxation: sf.Tag.Get("relax") == "true",
			List: sf.Type.Kind() == reflect.Slice, sep: sf.Tag.Get("sep"), index: idx, typ: sf.Type}
		if f.sep == "path" {
			f.sep = string(os.PathListSeparator)
		}
		out = append(out, f)
	}
	return out
}

// InFile reports whether the field may be set in the configuration file (secrets may not).
func (f Field) InFile() bool { return !f.Secret }

func (f Field) value(c *Config) reflect.Value { return reflect.ValueOf(c).Elem().FieldByIndex(f.index) }

// Value returns the field's value in c (a Secret stays a Secret).
func (f Field) Value(c *Config) any { return f.value(c).Interface() }

// set parses s into the field of c. For a list, s holds the items separated by the field's
// separator (environment) or one item (flag, when add is true).
func (f Field) set(c *Config, s string, add bool) error {
	v := f.value(c)
	switch {
	case f.typ == secretType:
		v.Set(reflect.ValueOf(NewSecret(s)))
	case f.typ == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration (such as 90s, 30m, 12h)", s)
		}
		v.SetInt(int64(d))
	case f.typ.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not a boolean (true, false, 1, 0)", s)
		}
		v.SetBool(b)
	case f.typ.Kind() == reflect.String:
		v.SetString(s)
	case f.List:
		var items []string
		if add {
			items = append(v.Interface().([]string), s)
		} else {
			for _, it := range strings.Split(s, f.sep) {
				if it = strings.TrimSpace(it); it != "" {
					items = append(items, it)
				}
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("unsupported field type %s", f.typ)
	}
	return nil
}

// text is the value as a flag default or a text table cell.
func (f Field) text(c *Config) string {
	v := f.value(c).Interface()
	switch x := v.(type) {
	case []string:
		return strings.Join(x, f.sep)
	case time.Duration:
		return x.String()
	}
	return fmt.Sprint(v)
}

// usage is the flag's help with the argument name in backquotes and the other layers named.
func (f Field) usage() string {
	h := strings.NewReplacer("{", "`", "}", "`").Replace(f.Help)
	var alt []string
	if f.Env != "" {
		alt = append(alt, "env "+f.Env)
	}
	if f.InFile() {
		alt = append(alt, "config "+f.Key)
	}
	if len(alt) > 0 {
		h += " (" + strings.Join(alt, ", ") + ")"
	}
	return h
}

// LogValue redacts a Secret in slog records.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.redacted()) }
