package autoconfig

import (
	"fmt"
	"slices"
	"strings"
)

// Select picks, for family, the IMAP incoming server and the SMTP outgoing server whose
// authentication is the family's: the first STARTTLS entry (the API LPS mode, ECO.1.0.1 and
// ECO.1.0.2), else the first SSL entry, in document order; it substitutes
// %EMAILADDRESS%, %EMAILLOCALPART% and %EMAILDOMAIN% in host names and user names. An entry of the
// family that is plain (or has no socket type) is refused: ErrPlainSocket when it is the only
// one, ErrNoServer when there is none.
func (c *Config) Select(family Family) (*Servers, error) {
	imap, err := c.pick("imap", c.Incoming, family)
	if err != nil {
		return nil, err
	}
	smtp, err := c.pick("smtp", c.Outgoing, family)
	if err != nil {
		return nil, err
	}
	return &Servers{Family: family, IMAP: imap, SMTP: smtp}, nil
}

func (c *Config) pick(protocol string, entries []Entry, family Family) (Server, error) {
	auth := family.Authentication()
	var refused []string
	var ssl *Entry
	for i, e := range entries {
		if e.Type != protocol || !slices.ContainsFunc(e.Authentication, func(a string) bool { return strings.EqualFold(a, auth) }) {
			continue
		}
		switch socket := strings.ToUpper(e.SocketType); socket {
		case "STARTTLS":
			// The API LPS is STARTTLS on 143 and 587 (ECO.1.0.1, ECO.1.0.2): a STARTTLS entry
			// wins over SSL entries listed before it.
			return c.substitute(e, protocol, socket, auth)
		case "SSL":
			if ssl == nil {
				ssl = &entries[i]
			}
		default:
			refused = append(refused, fmt.Sprintf("%s:%d socketType %q", e.Hostname, e.Port, e.SocketType))
		}
	}
	if ssl != nil {
		return c.substitute(*ssl, protocol, "SSL", auth)
	}
	if len(refused) > 0 {
		return Server{}, fmt.Errorf("%s server for %s (%s): %s: %w", protocol, family, auth, strings.Join(refused, ", "), ErrPlainSocket)
	}
	return Server{}, fmt.Errorf("%s server for %s (authentication %s): %w", protocol, family, auth, ErrNoServer)
}

func (c *Config) substitute(e Entry, protocol, socket, auth string) (Server, error) {
	local, domain, err := splitAddress(c.Address)
	if err != nil {
		return Server{}, err
	}
	r := strings.NewReplacer("%EMAILADDRESS%", c.Address, "%EMAILLOCALPART%", local, "%EMAILDOMAIN%", domain)
	s := Server{Protocol: protocol, Host: strings.ToLower(r.Replace(e.Hostname)), Port: e.Port, SocketType: socket,
		Authentication: auth, Username: r.Replace(e.Username)}
	if s.Port == 0 {
		s.Port = defaultPort(protocol, socket)
	}
	if s.Host == "" || strings.ContainsAny(s.Host, " /@%\t\r\n") {
		return Server{}, fmt.Errorf("%s server: invalid host name %q", protocol, s.Host)
	}
	if s.Username == "" {
		s.Username = c.Address
	}
	return s, nil
}

// defaultPort is the registered port when an entry has none: IMAP 143/993, submission 587/465.
func defaultPort(protocol, socket string) int {
	switch {
	case protocol == "imap" && socket == "SSL":
		return 993
	case protocol == "imap":
		return 143
	case socket == "SSL":
		return 465
	}
	return 587
}
