package config

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Entry is one value of "config show": its key, its value (a Secret prints "(set)", a database
// URL hides its password) and where it came from.
type Entry struct {
	Key    string `json:"-"`
	Value  any    `json:"value"`
	Source Source `json:"source"`
}

// Entries lists the effective configuration: the file read, every field, then the accounts.
func (c *Config) Entries() []Entry {
	fileSrc := Source{}
	if c.file != "" {
		fileSrc = Source{Kind: FromFile, Name: c.file}
	}
	out := []Entry{{Key: "config", Value: c.file, Source: fileSrc}}
	for _, f := range fieldTable {
		v := f.Value(c)
		switch x := v.(type) {
		case time.Duration:
			v = x.String()
		case []string:
			if x == nil {
				v = []string{}
			}
		}
		if u, ok := v.(DatabaseURL); ok {
			v = u.String()
		}
		out = append(out, Entry{Key: f.Key, Value: v, Source: c.Source(f.Key)})
	}
	accounts := c.Accounts
	if accounts == nil {
		accounts = []Account{}
	}
	out = append(out, Entry{Key: "account", Value: accounts, Source: c.Source("account")})
	return out
}

// WriteJSON writes the entries as one JSON object {"key": {"value": …, "source": "env NAME"}}.
func (c *Config) WriteJSON(w io.Writer) error {
	var b strings.Builder
	b.WriteString("{\n")
	entries := c.Entries()
	for i, e := range entries {
		k, _ := json.Marshal(e.Key)
		v, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("config show %s: %w", e.Key, err)
		}
		fmt.Fprintf(&b, "  %s: %s", k, v)
		if i < len(entries)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteText writes the entries as an aligned table: key, value, source; one row per account
// value.
func (c *Config) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "KEY\tVALUE\tSOURCE\n")
	for _, e := range c.Entries() {
		if accounts, ok := e.Value.([]Account); ok {
			for i, a := range accounts {
				for _, kv := range [][2]string{{"address", a.Address}, {"family", a.EffectiveFamily()}, {"token_file", a.TokenFile},
					{"cert", a.Cert}, {"key", a.Key}, {"imap", a.IMAP}, {"smtp", a.SMTP},
					{"autoconfig_url", a.AutoconfigURL}, {"server_name", a.ServerName}} {
					if kv[1] != "" {
						fmt.Fprintf(tw, "account[%d].%s\t%s\t%s\n", i, kv[0], kv[1], e.Source)
					}
				}
			}
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Key, cell(e.Value), e.Source)
	}
	return tw.Flush()
}

func cell(v any) string {
	switch x := v.(type) {
	case []string:
		if len(x) == 0 {
			return "[]"
		}
		return strings.Join(x, ",")
	case string:
		if x == "" {
			return `""`
		}
		return x
	case Secret:
		if !x.IsSet() {
			return `""`
		}
	}
	return fmt.Sprint(v)
}
