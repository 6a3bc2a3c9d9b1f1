package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Example is a commented configuration file generated from the field table: every key that the
// file may set, with its help, environment variable, flag and default, commented out.
func Example(env Lookup) string {
	d := Defaults(env)
	var b strings.Builder
	b.WriteString("# mssante configuration (mssante config example). Precedence: flags > MSSANTE_… environment\n" +
		"# > this file > defaults. Uncomment what you change; secrets are never read from here.\n")
	section := ""
	for _, f := range fieldTable {
		if !f.InFile() {
			continue
		}
		sec, name := "", f.Key
		if i := strings.LastIndex(f.Key, "."); i >= 0 {
			sec, name = f.Key[:i], f.Key[i+1:]
		}
		if sec != section {
			section = sec
			fmt.Fprintf(&b, "\n[%s]\n", sec)
		}
		help := strings.NewReplacer("{", "", "}", "").Replace(f.Help)
		var alt []string
		if f.Env != "" {
			alt = append(alt, "env "+f.Env)
		}
		if f.Flag != "" {
			alt = append(alt, "flag --"+f.Flag)
		}
		fmt.Fprintf(&b, "\n# %s (%s)\n# %s = %s\n", help, strings.Join(alt, ", "), name, tomlValue(f.Value(d)))
	}
	b.WriteString(`
# One table per mailbox (the gateway's applicative mailboxes, or the accounts named by --account):
# [[account]]
# address = "secretariat@hopital.test.mssante.fr"
# family = "applicative"            # or personal (default from the credentials)
# cert = "/etc/mssante/secretariat.pem"
# key = "/etc/mssante/secretariat.key"
# token_file = ""                   # personal mailboxes: the PSC token file (exclusive with cert)
# imap = "imap.hopital.fr:143"      # instead of autoconfig
# smtp = "smtp.hopital.fr:587"
# autoconfig_url = ""
# server_name = ""
`)
	return b.String()
}

func tomlValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case DatabaseURL:
		return strconv.Quote(string(x))
	case bool:
		return strconv.FormatBool(x)
	case time.Duration:
		return strconv.Quote(x.String())
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return strconv.Quote(fmt.Sprint(v))
}
