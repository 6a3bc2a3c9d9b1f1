package autoconfig

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/text/encoding/ianaindex"
)

// Config is a parsed autoconfig document (Thunderbird ConfigFileFormat, clientConfig 1.1).
type Config struct {
	Address     string   `json:"address"` // the address the placeholders stand for
	URL         string   `json:"url,omitempty"`
	ProviderID  string   `json:"provider_id,omitempty"`
	DisplayName string   `json:"display_name,omitempty"`
	Domains     []string `json:"domains,omitempty"`
	Incoming    []Entry  `json:"incoming"`
	Outgoing    []Entry  `json:"outgoing"`
	// OAuth2 is the <oAuth2> element when present (issuer, scope and endpoints of the token
	// provider), placeholders not substituted.
	OAuth2 *OAuth2 `json:"oauth2,omitempty"`
}

// Entry is an incomingServer or outgoingServer element, as written (placeholders kept).
type Entry struct {
	Type           string   `json:"type"` // "imap", "pop3", "smtp"…
	Hostname       string   `json:"hostname"`
	Port           int      `json:"port"`
	SocketType     string   `json:"socket_type"`
	Authentication []string `json:"authentication"`
	Username       string   `json:"username"`
}

// OAuth2 is the <oAuth2> element.
type OAuth2 struct {
	Issuer   string `json:"issuer,omitempty" xml:"issuer"`
	Scope    string `json:"scope,omitempty" xml:"scope"`
	AuthURL  string `json:"auth_url,omitempty" xml:"authURL"`
	TokenURL string `json:"token_url,omitempty" xml:"tokenURL"`
}

type xmlConfig struct {
	Providers []struct {
		ID          string      `xml:"id,attr"`
		Domains     []string    `xml:"domain"`
		DisplayName string      `xml:"displayName"`
		Incoming    []xmlServer `xml:"incomingServer"`
		Outgoing    []xmlServer `xml:"outgoingServer"`
	} `xml:"emailProvider"`
	OAuth2 *OAuth2 `xml:"oAuth2"`
}

type xmlServer struct {
	Type           string   `xml:"type,attr"`
	Hostname       string   `xml:"hostname"`
	Port           string   `xml:"port"`
	SocketType     string   `xml:"socketType"`
	Authentication []string `xml:"authentication"`
	Username       string   `xml:"username"`
}

// DefaultMaxSize bounds an autoconfig document.
const DefaultMaxSize = 1 << 20

// Read parses an autoconfig document for address. maxSize bounds the input (0: DefaultMaxSize).
// Unknown elements are ignored; a DOCTYPE (DTD) is refused.
func Read(r io.Reader, address string, maxSize int64) (*Config, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if _, _, err := splitAddress(address); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > maxSize {
		return nil, fmt.Errorf("autoconfig document larger than %d bytes", maxSize)
	}
	return Parse(data, address)
}

// Parse parses an autoconfig document held in memory (see Read).
func Parse(data []byte, address string) (*Config, error) {
	d := xml.NewDecoder(strings.NewReader(string(data)))
	d.Strict = true
	d.CharsetReader = charsetReader
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil, errors.New("autoconfig document: no clientConfig element")
		}
		if err != nil {
			return nil, fmt.Errorf("autoconfig document: %w", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, errors.New("autoconfig document: DTD or directive refused")
		case xml.StartElement:
			if t.Name.Local != "clientConfig" {
				return nil, fmt.Errorf("autoconfig document: root element %q, want clientConfig", t.Name.Local)
			}
			var x xmlConfig
			if err := d.DecodeElement(&x, &t); err != nil {
				return nil, fmt.Errorf("autoconfig document: %w", err)
			}
			return fromXML(&x, address)
		}
	}
}

// charsetReader decodes documents that declare another encoding than UTF-8 (ISO-8859-1,
// windows-1252… are seen on hand-written configuration files), by their IANA name.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	enc, err := ianaindex.IANA.Encoding(label)
	if err != nil || enc == nil {
		return nil, fmt.Errorf("unsupported encoding %q", label)
	}
	return enc.NewDecoder().Reader(input), nil
}

func fromXML(x *xmlConfig, address string) (*Config, error) {
	if len(x.Providers) == 0 {
		return nil, errors.New("autoconfig document: no emailProvider")
	}
	p := x.Providers[0]
	c := &Config{Address: address, ProviderID: p.ID, DisplayName: strings.TrimSpace(p.DisplayName), OAuth2: x.OAuth2}
	for _, dom := range p.Domains {
		c.Domains = append(c.Domains, strings.TrimSpace(dom))
	}
	var err error
	if c.Incoming, err = entries(p.Incoming); err != nil {
		return nil, err
	}
	if c.Outgoing, err = entries(p.Outgoing); err != nil {
		return nil, err
	}
	return c, nil
}

func entries(xs []xmlServer) ([]Entry, error) {
	out := make([]Entry, 0, len(xs))
	for _, s := range xs {
		e := Entry{Type: strings.ToLower(strings.TrimSpace(s.Type)), Hostname: strings.TrimSpace(s.Hostname),
			SocketType: strings.TrimSpace(s.SocketType), Username: strings.TrimSpace(s.Username)}
		if p := strings.TrimSpace(s.Port); p != "" {
			port, err := strconv.Atoi(p)
			if err != nil || port < 1 || port > 65535 {
				return nil, fmt.Errorf("autoconfig document: %s server %q: invalid port %q", e.Type, e.Hostname, p)
			}
			e.Port = port
		}
		for _, a := range s.Authentication {
			if a = strings.TrimSpace(a); a != "" {
				e.Authentication = append(e.Authentication, a)
			}
		}
		out = append(out, e)
	}
	return out, nil
}
