package xdm

import (
	"strings"
	"time"

	"github.com/mssante/mssante/cda"
)

// OIDs of the French professional and organisation identifiers (ANS "Annexe transverse –
// Source des données métier").
const (
	oidIDNPS = "1.2.250.1.71.4.2.1" // national identifier of health professionals (RPPS/ADELI with prefix)
	oidIDNST = "1.2.250.1.71.4.2.2" // national identifier of health structures (FINESS/SIRET with prefix)
)

// hl7Escape escapes the HL7 v2 delimiters of a value placed in a component.
func hl7Escape(s string) string {
	if !strings.ContainsAny(s, `^&~\|`) {
		return s
	}
	r := strings.NewReplacer(`\`, `\E\`, `^`, `\S\`, `&`, `\T\`, `~`, `\R\`, `|`, `\F\`)
	return r.Replace(s)
}

// splitHL7 splits s on sep; an empty string gives no component.
func splitHL7(s string, sep byte) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, string(sep))
}

func component(comps []string, i int) string {
	if i < len(comps) {
		return comps[i]
	}
	return ""
}

// cutField splits a sourcePatientInfo value "PID-5|…" into "PID-5" and the rest.
func cutField(v string) (string, string, bool) {
	field, value, ok := strings.Cut(strings.TrimSpace(v), "|")
	return strings.ToUpper(strings.TrimSpace(field)), value, ok
}

// joinHL7 joins components and drops the trailing empty ones.
func joinHL7(comps ...string) string {
	n := len(comps)
	for n > 0 && comps[n-1] == "" {
		n--
	}
	return strings.Join(comps[:n], "^")
}

// authority is the HD "&OID&ISO" of an assigning authority, empty without an OID.
func authority(oid string) string {
	if oid == "" {
		return ""
	}
	return "&" + oid + "&ISO"
}

// CX returns an identifier in HL7 CX form: "ID^^^&OID&ISO^TYPE".
func CX(id cda.II, typ string) string {
	if id.Extension == "" {
		return ""
	}
	return hl7Escape(id.Extension) + "^^^" + authority(id.Root) + "^" + typ
}

// XCN returns the person in the HL7 XCN form CI-SIS uses:
// "ID^FAMILY^Given^^^Prefix^^^&OID&ISO^D^^^IDNPS". Empty for a nil person.
func XCN(p *cda.Person) string {
	if p == nil {
		return ""
	}
	typ := ""
	if p.ID.Extension != "" {
		typ = "EI"
		if p.ID.Root == oidIDNPS {
			typ = "IDNPS"
		}
	}
	given := ""
	if len(p.Name.Given) > 0 {
		given = p.Name.Given[0]
	}
	nameType := ""
	if p.Name.Family != "" {
		nameType = "D"
	}
	return joinHL7(hl7Escape(p.ID.Extension), hl7Escape(p.Name.Family), hl7Escape(given), "", "",
		hl7Escape(p.Name.Prefix), "", "", authority(idRoot(p.ID)), nameType, "", "", typ)
}

func idRoot(id cda.II) string {
	if id.Extension == "" {
		return ""
	}
	return id.Root
}

// XON returns the organisation in the HL7 XON form CI-SIS uses: "NAME^^^^^&OID&ISO^IDNST^^^ID".
// Empty for a nil organisation.
func XON(o *cda.Organization) string {
	if o == nil {
		return ""
	}
	typ := ""
	if o.ID.Extension != "" {
		typ = "IDNST"
	}
	return joinHL7(hl7Escape(o.Name), "", "", "", "", authority(idRoot(o.ID)), typ, "", "", hl7Escape(o.ID.Extension))
}

// xtnMail returns the XTN of a mail address: "^^Internet^addr".
func xtnMail(addr string) string { return "^^Internet^" + hl7Escape(addr) }

// codeCE returns "code^display^scheme".
func codeCE(c cda.Code) string {
	if c.Code == "" {
		return ""
	}
	return joinHL7(hl7Escape(c.Code), hl7Escape(c.DisplayName), hl7Escape(c.CodeSystem))
}

// dtm formats an HL7 time for XDS: UTC "YYYYMMDDhhmmss" at the precision of the source. A value
// with a time of day is converted to UTC; a date alone is kept as written, since a date has no
// zone to convert from. Empty for an absent or unreadable time.
func dtm(t cda.TS) string {
	if t.IsZero() {
		return ""
	}
	digits := 0
	for digits < len(t.Raw) && t.Raw[digits] >= '0' && t.Raw[digits] <= '9' {
		digits++
	}
	switch {
	case digits <= 8:
		return t.Raw[:digits]
	case digits < 14:
		return t.Time.UTC().Format("20060102150405")[:digits]
	}
	return t.Time.UTC().Format("20060102150405")
}

// timeDTM formats a Go time as an XDS UTC time to the second.
func timeDTM(t time.Time) string { return t.UTC().Format("20060102150405") }
