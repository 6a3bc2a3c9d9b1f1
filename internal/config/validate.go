package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
)

// validate returns every problem of c, each naming its key and where its value came from.
func (c *Config) validate() []Problem {
	var probs []Problem
	bad := func(key, format string, args ...any) {
		src := c.Source(key)
		if strings.HasPrefix(key, "account[") {
			src = c.Source("account")
		}
		probs = append(probs, Problem{Key: key, Source: src, Msg: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(c.DataDir) == "" {
		bad("data_dir", "empty")
	}
	switch c.DB.Dialect() {
	case "":
		bad("db", "unknown scheme in %q: want sqlite:PATH or postgres://…", c.DB)
	case "sqlite":
		if strings.TrimPrefix(string(c.DB), "sqlite:") == "" {
			bad("db", "sqlite: needs a file path")
		}
	case "postgres":
		if u, err := url.Parse(string(c.DB)); err != nil {
			bad("db", "%v", err)
		} else if _, pw := u.User.Password(); (pw || u.Query().Has("password")) && c.Source("db").Kind == FromFile {
			bad("db", "a password is not read from the file: put it in ~/.pgpass (or PGPASSFILE), or give the URL in MSSANTE_DB")
		}
	}
	if err := checkDomain(c.PatientDomain); err != nil {
		bad("patient_domain", "%v", err)
	}
	checkURL := func(key, v string) {
		if v == "" {
			return
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad(key, "%q is not an http(s) URL", v)
		}
	}
	checkURL("autoconfig_url", c.AutoconfigURL)

	// Trust policy and its relaxations.
	if p := c.Trust.Profile; p != "production" && p != "test" {
		bad("trust.profile", "%q: want production or test", p)
	}
	if c.Trust.CRLRefresh < 0 {
		bad("trust.crl_refresh", "%s is negative: want a duration ≥ 0", c.Trust.CRLRefresh)
	}
	for _, f := range fieldTable {
		if !f.Relaxation || c.Trust.AllowRelaxations {
			continue
		}
		s := c.Source(f.Key)
		if v := f.value(c); (s.Kind == FromFile || s.Kind == FromEnv) && !v.IsZero() && !(f.List && v.Len() == 0) {
			bad(f.Key, "relaxes the strict default: set trust.allow_relaxations = true (or MSSANTE_ALLOW_RELAXATIONS=1) to accept it, or give --%s on the command line", orName(f.Flag, f.Key))
		}
	}

	// Mail account.
	m := c.MailAccount()
	if c.Mail.Account != "" {
		if err := checkAddress(c.Mail.Account); err != nil {
			bad("mail.account", "%v", err)
		}
	}
	if c.Mail.TokenFile != "" && c.Mail.Cert != "" {
		bad("mail.token_file", "a token file and a certificate (mail.cert) are exclusive")
	}
	if c.Mail.Cert != "" && m.Key == "" {
		bad("mail.cert", "needs its private key (mail.key, --key)")
	}

	// Accounts.
	seen := map[string]bool{}
	for i, a := range c.Accounts {
		key := fmt.Sprintf("account[%d]", i)
		if a.Address == "" {
			bad(key+".address", "required")
		} else if err := checkAddress(a.Address); err != nil {
			bad(key+".address", "%v", err)
		} else if seen[strings.ToLower(a.Address)] {
			bad(key+".address", "%s is given twice", a.Address)
		}
		seen[strings.ToLower(a.Address)] = true
		switch {
		case a.TokenFile != "" && a.Cert != "":
			bad(key, "%s has both a token file and a certificate: a personal mailbox uses token_file, an applicative one cert and key", a.Address)
		case a.Cert != "" && a.Key == "":
			bad(key+".cert", "needs its private key (key)")
		case a.Key != "" && a.Cert == "":
			bad(key+".key", "without cert")
		}
		switch a.Family {
		case "", FamilyPersonal, FamilyApplicative:
		default:
			bad(key+".family", "%q: want personal or applicative", a.Family)
		}
		if a.Family == FamilyPersonal && a.Cert != "" {
			bad(key+".family", "a personal mailbox authenticates with a token (token_file), not a certificate")
		}
		if a.Family == FamilyApplicative && a.TokenFile != "" {
			bad(key+".family", "an applicative mailbox authenticates with a certificate (cert, key), not a token")
		}
		for name, ep := range map[string]string{"imap": a.IMAP, "smtp": a.SMTP} {
			if ep == "" {
				continue
			}
			if _, port, err := net.SplitHostPort(ep); err != nil || port == "" {
				bad(key+"."+name, "%q is not HOST:PORT", ep)
			}
		}
		checkURL(key+".autoconfig_url", a.AutoconfigURL)
	}
	// Content.
	if c.Message.NIL == "" {
		bad("message.nil", "empty")
	}
	if v := c.PDF.SourceDateEpoch; v != "" {
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			bad("pdf.source_date_epoch", "%q is not a number of seconds", v)
		}
	}

	// Directory.
	for _, name := range strings.Split(c.Annuaire.Source, ",") {
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "", "local", "fhir", "ldap":
		default:
			bad("annuaire.source", "unknown source %q (local, fhir, ldap)", strings.TrimSpace(name))
		}
	}
	if strings.Trim(c.Annuaire.Source, ", ") == "" {
		bad("annuaire.source", "names no source")
	}
	checkURL("annuaire.fhir.url", c.Annuaire.FHIR.URL)
	if c.Annuaire.LDAP.URL != "" {
		if u, err := url.Parse(c.Annuaire.LDAP.URL); err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") {
			bad("annuaire.ldap.url", "%q is not an ldap:// or ldaps:// URL", c.Annuaire.LDAP.URL)
		}
	}
	for _, kv := range c.Annuaire.LDAP.Attributes {
		if k, _, ok := strings.Cut(kv, "="); !ok || strings.TrimSpace(k) == "" {
			bad("annuaire.ldap.attributes", "%q: want field=attribute", kv)
		}
	}

	// Server and PSC.
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Server.LogLevel)); err != nil {
		bad("server.log_level", "%q: want debug, info, warn or error", c.Server.LogLevel)
	}
	if (c.Server.TLSCert == "") != (c.Server.TLSKey == "") {
		bad("server.tls_cert", "server.tls_cert and server.tls_key go together")
	}
	checkURL("server.public_url", c.Server.PublicURL)
	if c.Server.IdleTimeout <= 0 || c.Server.MaxSession <= 0 {
		bad("server.idle_timeout", "server.idle_timeout and server.max_session must be positive")
	}
	switch strings.ToLower(c.PSC.Env) { // psc.Preset's names
	case "production", "prod", "bas", "sandbox":
	default:
		bad("psc.env", "%q: want production or bas", c.PSC.Env)
	}
	if prod := strings.HasPrefix(strings.ToLower(c.PSC.Env), "prod"); c.PSC.AnyACR && prod && c.PSC.Issuer == "" {
		bad("psc.any_acr", "refused with the production PSC: an MSSanté login must be eidas1")
	}
	if c.PSC.ClientSecretFile != "" && c.PSC.ClientCert != "" {
		bad("psc.client_secret_file", "a client secret and a client certificate (psc.client_cert) are exclusive")
	}
	if (c.PSC.ClientCert == "") != (c.PSC.ClientKey == "") {
		bad("psc.client_cert", "psc.client_cert and psc.client_key go together")
	}
	checkURL("psc.issuer", c.PSC.Issuer)
	checkURL("psc.discovery_url", c.PSC.DiscoveryURL)
	checkURL("login.server", c.Login.Server)
	if ch := c.Login.Channel; ch != "MOBILE" && ch != "CARD" {
		bad("login.channel", "%q: want MOBILE or CARD", ch)
	}
	if c.Audit.Retention <= 0 {
		bad("audit.retention", "%s: want a positive duration", c.Audit.Retention)
	}
	return probs
}

func orName(flag, key string) string {
	if flag != "" {
		return flag
	}
	return key
}

func checkAddress(a string) error {
	if _, err := mail.ParseAddress(a); err != nil || strings.ContainsAny(a, "<> ") {
		return fmt.Errorf("%q is not a mailbox address", a)
	}
	return nil
}

func checkDomain(d string) error {
	if d == "" || strings.ContainsAny(d, "@ /:") || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") || !strings.Contains(d, ".") {
		return fmt.Errorf("%q is not a mail domain", d)
	}
	return nil
}
