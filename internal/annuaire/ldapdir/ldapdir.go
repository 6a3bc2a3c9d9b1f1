// Package ldapdir searches MSSanté mailboxes in an LDAP directory, one of the three directory
// accesses the referential names (ECO.3.1.4).
//
// The public MSSanté LDAP schema is not available to us, so everything is explicit configuration:
// the filter template and the map from annuaire.Entry fields to LDAP attributes. The defaults
// suit an inetOrgPerson directory (RFC 2798) on OpenLDAP:
//
//	address      mail              first_name   givenName
//	last_name    sn                profession   title
//	specialty    businessCategory  organization o
//	service      ou                city         l
//	postal_code  postalCode        national_id  employeeNumber
//
// type, civility, profession_code and department have no default attribute. Without a type
// attribute an entry with a last name is PER and one without is ORG; without a department
// attribute the department comes from the postal code. Options.Attributes is merged over the
// defaults; an empty attribute name removes a default.
//
// Each word of the query fills the template's {q} placeholder, escaped with ldap.EscapeFilter
// (RFC 4515), and the words are ANDed with (address=*): "(&(mail=*)(word1…)(word2…))". The
// default template DefaultFilterTemplate uses prefix and substring matches (case-insensitive by
// the schema's caseIgnore rules, accents as typed) and approximate matches "~=" that OpenLDAP
// compares without accents ("lefevre" finds "LEFÈVRE"; approximate matching is fuzzy by the
// server's rules and may bring near misses). A word with "@" keeps, of an entry's several
// addresses, only those that contain it. An empty query returns nothing rather
// than the whole directory.
//
// Search dials, binds (anonymously when BindDN is empty) and searches on every call: directory
// searches while composing are rare and a fresh connection never goes stale. Usage:
//
//	c := ldapdir.New(ldapdir.Options{URL: "ldaps://annuaire.example:636", BaseDN: "dc=annuaire,dc=test"})
//	entries, err := c.Search(ctx, annuaire.Query{Text: "martin cardio"})
package ldapdir

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/mssante/mssante/internal/annuaire"
)

// DefaultFilterTemplate matches one query word ({q}) against names, mailbox, organisation,
// service, city, postcode and profession.
const DefaultFilterTemplate = "(|(cn~={q})(cn=*{q}*)(sn={q}*)(givenName={q}*)(mail={q}*)(o~={q})(o=*{q}*)" +
	"(ou=*{q}*)(l~={q})(l={q}*)(postalCode={q}*)(title~={q})(title={q}*))"

// Placeholder is replaced by each escaped query word in the filter template.
const Placeholder = "{q}"

// DefaultTimeout bounds one Search when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// DefaultAttributes maps annuaire.Entry JSON field names to inetOrgPerson attributes.
var DefaultAttributes = map[string]string{
	"address":      "mail",
	"last_name":    "sn",
	"first_name":   "givenName",
	"profession":   "title",
	"specialty":    "businessCategory",
	"organization": "o",
	"service":      "ou",
	"city":         "l",
	"postal_code":  "postalCode",
	"national_id":  "employeeNumber",
}

// setters are the annuaire.Entry fields an attribute may fill, by JSON name.
var setters = map[string]func(*annuaire.Entry, string){
	"address":         func(e *annuaire.Entry, v string) { e.Address = v },
	"type":            func(e *annuaire.Entry, v string) { e.Type = strings.ToUpper(v) },
	"national_id":     func(e *annuaire.Entry, v string) { e.NationalID = v },
	"civility":        func(e *annuaire.Entry, v string) { e.Civility = v },
	"last_name":       func(e *annuaire.Entry, v string) { e.LastName = v },
	"first_name":      func(e *annuaire.Entry, v string) { e.FirstName = v },
	"profession_code": func(e *annuaire.Entry, v string) { e.ProfessionCode = v },
	"profession":      func(e *annuaire.Entry, v string) { e.Profession = v },
	"specialty":       func(e *annuaire.Entry, v string) { e.Specialty = v },
	"organization":    func(e *annuaire.Entry, v string) { e.Organization = v },
	"service":         func(e *annuaire.Entry, v string) { e.Service = v },
	"city":            func(e *annuaire.Entry, v string) { e.City = v },
	"postal_code":     func(e *annuaire.Entry, v string) { e.PostalCode = v },
	"department":      func(e *annuaire.Entry, v string) { e.Department = v },
}

// ErrConfig: the options cannot make a search (no URL, unknown field, template without {q}).
var ErrConfig = errors.New("ldapdir: bad configuration")

// Options configures a Client.
type Options struct {
	// URL is ldap://host:port or ldaps://host:port (required).
	URL string
	// BaseDN is where the search starts (whole subtree).
	BaseDN string
	// BindDN and BindPassword authenticate with a simple bind; anonymous when BindDN is empty.
	// The password is never logged nor put in an error.
	BindDN, BindPassword string
	// FilterTemplate is the filter for one query word, with Placeholder; DefaultFilterTemplate
	// when empty.
	FilterTemplate string
	// Attributes maps annuaire.Entry JSON field names (address, type, last_name…) to attribute
	// names, merged over DefaultAttributes; "" removes a default.
	Attributes map[string]string
	// Timeout bounds one Search, dial included; DefaultTimeout when zero.
	Timeout time.Duration
	// TLSConfig is used for ldaps:// URLs; nil means the Go defaults (system roots). An MSSanté
	// deployment passes a pool pinned on the IGC Santé.
	TLSConfig *tls.Config
}

// Client searches one LDAP directory. New does no I/O; a Client is safe for concurrent use.
type Client struct {
	o     Options
	attrs map[string]string // field -> attribute
	err   error
}

// New returns a client for o. Configuration errors are reported by Search.
func New(o Options) *Client {
	c := &Client{o: o, attrs: map[string]string{}}
	for k, v := range DefaultAttributes {
		c.attrs[k] = v
	}
	for k, v := range o.Attributes {
		if _, ok := setters[k]; !ok {
			c.err = fmt.Errorf("%w: attribute map: unknown entry field %q", ErrConfig, k)
		}
		if v == "" {
			delete(c.attrs, k)
		} else {
			c.attrs[k] = v
		}
	}
	if c.o.FilterTemplate == "" {
		c.o.FilterTemplate = filterFor(c.attrs)
	}
	if c.o.Timeout <= 0 {
		c.o.Timeout = DefaultTimeout
	}
	switch {
	case c.err != nil:
	case c.o.URL == "":
		c.err = fmt.Errorf("%w: no LDAP URL", ErrConfig)
	case c.attrs["address"] == "":
		c.err = fmt.Errorf("%w: no attribute for the address", ErrConfig)
	case !strings.Contains(c.o.FilterTemplate, Placeholder):
		c.err = fmt.Errorf("%w: filter template %q has no %s", ErrConfig, c.o.FilterTemplate, Placeholder)
	default:
		if _, err := ldap.CompileFilter(strings.ReplaceAll(c.o.FilterTemplate, Placeholder, "x")); err != nil {
			c.err = fmt.Errorf("%w: filter template %q: %v", ErrConfig, c.o.FilterTemplate, err)
		}
	}
	return c
}

// filterFor returns the filter template for an attribute map: DefaultFilterTemplate for the
// default map, else the same matches on the mapped attributes. A directory with its own schema
// then needs only --ldap-attr: the default template names inetOrgPerson attributes (cn, sn…)
// that such a directory does not have, and would silently find nothing.
func filterFor(attrs map[string]string) string {
	searched := []struct{ field, forms string }{
		{"last_name", "~= =*Q* =Q*"}, {"first_name", "=Q*"}, {"address", "=Q*"},
		{"organization", "~= =*Q*"}, {"service", "=*Q*"}, {"city", "~= =Q*"},
		{"postal_code", "=Q*"}, {"profession", "~= =Q*"},
	}
	same := true
	for _, m := range searched {
		same = same && attrs[m.field] == DefaultAttributes[m.field]
	}
	if same {
		return DefaultFilterTemplate
	}
	var b strings.Builder
	b.WriteString("(|")
	for _, m := range searched {
		a := attrs[m.field]
		if a == "" {
			continue
		}
		for _, f := range strings.Fields(m.forms) {
			if f == "~=" {
				f = "~=Q"
			}
			b.WriteString("(" + a + strings.ReplaceAll(f, "Q", Placeholder) + ")")
		}
	}
	b.WriteString(")")
	return b.String()
}

// Search returns the mailboxes matching q, one entry per address value, deduplicated by address,
// at most q.Limit (20 when 0), sorted by name then organisation.
func (c *Client) Search(ctx context.Context, q annuaire.Query) ([]annuaire.Entry, error) {
	if c.err != nil {
		return nil, c.err
	}
	filter, ok := c.filter(q)
	if !ok {
		return nil, nil
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 20
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer func() {
		stop()
		_ = conn.Close()
	}()
	if c.o.BindDN != "" {
		if err := conn.Bind(c.o.BindDN, c.o.BindPassword); err != nil {
			return nil, fmt.Errorf("ldapdir: bind as %s: %w", c.o.BindDN, ctxErr(ctx, err))
		}
	}
	size := limit
	if c.postFiltered(q) {
		size = min(limit*10, 1000)
	}
	deadline, _ := ctx.Deadline()
	req := ldap.NewSearchRequest(c.o.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, size,
		max(int(time.Until(deadline).Seconds()), 1), false, filter, c.attributeList(), nil)
	res, err := conn.Search(req)
	if err != nil && !(res != nil && ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded)) {
		return nil, fmt.Errorf("ldapdir: search %s: %w", c.o.BaseDN, ctxErr(ctx, err))
	}
	return c.entries(res.Entries, q, limit), nil
}

func (c *Client) dial(ctx context.Context) (*ldap.Conn, error) {
	deadline, _ := ctx.Deadline()
	opts := []ldap.DialOpt{ldap.DialWithDialer(&net.Dialer{Deadline: deadline})}
	if c.o.TLSConfig != nil {
		opts = append(opts, ldap.DialWithTLSConfig(c.o.TLSConfig))
	}
	conn, err := ldap.DialURL(c.o.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("ldapdir: dial %s: %w", c.o.URL, ctxErr(ctx, err))
	}
	// The context is the one clock: it closes the connection at the deadline (see Search), so its
	// error names the cause. The library's own timeout is only a backstop, a second later, so that
	// it never wins the race and hides the deadline behind "connection timed out".
	conn.SetTimeout(time.Until(deadline) + time.Second)
	return conn, nil
}

// ctxErr prefers the context's error (deadline, cancel) when the context ended: the LDAP error is
// then only its consequence (connection closed).
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.Join(ctx.Err(), err)
	}
	return err
}

// filter builds the LDAP filter of q. ok is false for an empty query.
func (c *Client) filter(q annuaire.Query) (string, bool) {
	var b strings.Builder
	b.WriteString("(&(" + c.attrs["address"] + "=*)")
	n := 0
	for _, w := range strings.Fields(q.Text) {
		b.WriteString(strings.ReplaceAll(c.o.FilterTemplate, Placeholder, ldap.EscapeFilter(w)))
		n++
	}
	if a := c.attrs["type"]; a != "" && q.Type != "" {
		fmt.Fprintf(&b, "(%s=%s)", a, ldap.EscapeFilter(q.Type))
		n++
	}
	if a := c.attrs["profession"]; a != "" && q.Profession != "" {
		p := ldap.EscapeFilter(strings.TrimSpace(q.Profession))
		fmt.Fprintf(&b, "(|(%s=*%s*)(%s~=%s)", a, p, a, p)
		if code := c.attrs["profession_code"]; code != "" {
			fmt.Fprintf(&b, "(%s=%s)", code, p)
		}
		b.WriteString(")")
		n++
	}
	if a := c.attrs["department"]; a != "" && q.Department != "" {
		fmt.Fprintf(&b, "(%s=%s)", a, ldap.EscapeFilter(q.Department))
		n++
	}
	b.WriteString(")")
	return b.String(), n > 0
}

// postFiltered reports whether some of q is checked here rather than by the server.
func (c *Client) postFiltered(q annuaire.Query) bool {
	return (q.Type != "" && c.attrs["type"] == "") || (q.Department != "" && c.attrs["department"] == "") ||
		(q.Profession != "" && c.attrs["profession"] == "")
}

func (c *Client) attributeList() []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range c.attrs {
		if !seen[strings.ToLower(a)] {
			seen[strings.ToLower(a)] = true
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

func (c *Client) entries(les []*ldap.Entry, q annuaire.Query, limit int) []annuaire.Entry {
	var out []annuaire.Entry
	seen := map[string]bool{}
	// A word with "@" names a mailbox: of an entry's several addresses, keep those it matches.
	var mailWords []string
	for _, w := range strings.Fields(strings.ToLower(q.Text)) {
		if strings.Contains(w, "@") {
			mailWords = append(mailWords, w)
		}
	}
	for _, le := range les {
		var base annuaire.Entry
		for field, attr := range c.attrs {
			if field != "address" {
				if v := le.GetAttributeValue(attr); v != "" {
					setters[field](&base, strings.TrimSpace(v))
				}
			}
		}
		if base.Type == "" {
			base.Type = annuaire.TypeORG
			if base.LastName != "" {
				base.Type = annuaire.TypePER
			}
		}
		if base.Department == "" {
			base.Department = department(base.PostalCode)
		}
		base.Source = "ldap"
		if !matchPost(base, q, c.attrs) {
			continue
		}
		for _, addr := range le.GetAttributeValues(c.attrs["address"]) {
			addr = strings.TrimSpace(addr)
			if !strings.Contains(addr, "@") || seen[strings.ToLower(addr)] || !containsAll(strings.ToLower(addr), mailWords) {
				continue
			}
			seen[strings.ToLower(addr)] = true
			e := base
			e.Address = addr
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.LastName != b.LastName {
			return a.LastName < b.LastName
		}
		if a.FirstName != b.FirstName {
			return a.FirstName < b.FirstName
		}
		if a.Organization != b.Organization {
			return a.Organization < b.Organization
		}
		return a.Address < b.Address
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

func containsAll(s string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// matchPost applies the filters of q the server could not (no attribute mapped for them).
func matchPost(e annuaire.Entry, q annuaire.Query, attrs map[string]string) bool {
	if q.Type != "" && attrs["type"] == "" && !strings.EqualFold(e.Type, q.Type) {
		return false
	}
	if q.Department != "" && attrs["department"] == "" && !strings.EqualFold(e.Department, strings.TrimSpace(q.Department)) {
		return false
	}
	// Without a profession attribute no entry says its profession.
	return q.Profession == "" || attrs["profession"] != ""
}

// department derives the department from a French postal code: two digits, three overseas
// (97x, 98x), 2A/2B for Corsica.
func department(pc string) string {
	pc = strings.TrimSpace(pc)
	if len(pc) != 5 {
		return ""
	}
	switch {
	case strings.HasPrefix(pc, "97") || strings.HasPrefix(pc, "98"):
		return pc[:3]
	case strings.HasPrefix(pc, "20"):
		if pc < "20200" {
			return "2A"
		}
		return "2B"
	}
	return pc[:2]
}

var _ annuaire.Source = (*Client)(nil)
