package pdfa

import (
	"encoding/xml"
	"strings"
	"time"
	"unicode/utf8"
)

// docInfo is the document information shared by the Info dictionary and the XMP packet. PDF/A-1
// §6.7.3 requires the two to agree, dates included.
type docInfo struct {
	Title    string
	Author   string
	Creator  string // the application that made the source (xmp:CreatorTool)
	Producer string // this library (pdf:Producer)
	Date     time.Time
}

// metaText prepares a value for both the Info dictionary and the XMP packet: white space folded,
// control characters and characters XML 1.0 cannot carry removed, so that the two stay equal.
func metaText(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case r < 0x20, r >= 0x7F && r < 0xA0, r >= 0xD800 && r < 0xE000, r == 0xFFFE, r == 0xFFFF, r == utf8.RuneError:
			return -1
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// infoDict returns the Info dictionary body.
func (d docInfo) infoDict() string {
	var b strings.Builder
	b.WriteString("<<")
	if d.Title != "" {
		b.WriteString(" /Title " + textString(d.Title))
	}
	if d.Author != "" {
		b.WriteString(" /Author " + textString(d.Author))
	}
	if d.Creator != "" {
		b.WriteString(" /Creator " + textString(d.Creator))
	}
	b.WriteString(" /Producer " + textString(d.Producer))
	date := pdfDate(d.Date)
	b.WriteString(" /CreationDate (" + date + ") /ModDate (" + date + ") >>")
	return b.String()
}

// xmp returns the XMP metadata packet declaring PDF/A-1b (ISO 19005-1 §6.7.11).
func (d docInfo) xmp() []byte {
	var b strings.Builder
	b.WriteString("<?xpacket begin=\"\uFEFF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n")
	b.WriteString(`<x:xmpmeta xmlns:x="adobe:ns:meta/">` + "\n")
	b.WriteString(`<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">` + "\n")
	b.WriteString(`<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">` +
		"<pdfaid:part>1</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance></rdf:Description>\n")
	b.WriteString(`<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">`)
	b.WriteString("<dc:format>application/pdf</dc:format>")
	if d.Title != "" {
		b.WriteString(`<dc:title><rdf:Alt><rdf:li xml:lang="x-default">` + xmlEscape(d.Title) + "</rdf:li></rdf:Alt></dc:title>")
	}
	if d.Author != "" {
		b.WriteString("<dc:creator><rdf:Seq><rdf:li>" + xmlEscape(d.Author) + "</rdf:li></rdf:Seq></dc:creator>")
	}
	b.WriteString("</rdf:Description>\n")
	date := xmpDate(d.Date)
	b.WriteString(`<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">`)
	b.WriteString("<xmp:CreateDate>" + date + "</xmp:CreateDate><xmp:ModifyDate>" + date + "</xmp:ModifyDate>")
	b.WriteString("<xmp:MetadataDate>" + date + "</xmp:MetadataDate>")
	if d.Creator != "" {
		b.WriteString("<xmp:CreatorTool>" + xmlEscape(d.Creator) + "</xmp:CreatorTool>")
	}
	b.WriteString("</rdf:Description>\n")
	b.WriteString(`<rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">`)
	b.WriteString("<pdf:Producer>" + xmlEscape(d.Producer) + "</pdf:Producer></rdf:Description>\n")
	b.WriteString("</rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"w\"?>")
	return []byte(b.String())
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // writes to a strings.Builder do not fail
	return b.String()
}
