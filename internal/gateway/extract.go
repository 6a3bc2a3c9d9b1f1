package gateway

import (
	"context"
	"strings"
	"time"

	"github.com/mssante/mssante/cda"
	"github.com/mssante/mssante/internal/mailbox"
)

// Patient is the patient of a received document: the INS of METADATA.XML (else of the CDA
// header) and the CDA traits.
type Patient struct {
	INS        string `json:"ins,omitempty"`
	OID        string `json:"oid,omitempty"`
	BirthName  string `json:"birth_name,omitempty"`
	GivenNames string `json:"given_names,omitempty"`
	BirthDate  string `json:"birth_date,omitempty"` // YYYY-MM-DD
	Sex        string `json:"sex,omitempty"`        // M, F, U
}

// received is one document found in a received mail.
type received struct {
	documentID string // CDA id, root^extension (XDS uniqueId)
	patient    Patient
	identified bool
	typeCode   string
	typeLabel  string
	actDate    time.Time
	replaces   string // relatedDocument RPLC id, when the CDA replaces another
	cda        []byte
	pdf        []byte
}

// mailInfo is what the gateway keeps of a received mail besides its documents.
type mailInfo struct {
	from, senderKind, subject, text string
	docs                            []received
}

// extract reads the documents of a received mail (message.Parse, xdm.Read, cda): each CDA of
// IHE_XDM.zip with its PDF/A rendering (the PDF attachment of the same rank), its patient and
// type. A document without a usable INS is kept, with identified false.
func extract(raw []byte, patientDomain string) (mailInfo, error) {
	ps, err := mailbox.ParseStored(context.Background(), raw, mailbox.ParseOptions{PatientDomain: patientDomain})
	if err != nil {
		return mailInfo{}, err
	}
	m := ps.Message
	info := mailInfo{from: m.From.Addr, subject: m.Subject, text: m.Text}
	if m.XDM == nil {
		return info, nil
	}
	p := ps.Package
	if ps.PackageErr != nil || p == nil {
		// An unreadable archive is kept as one unidentified document: never dropped.
		info.docs = append(info.docs, received{documentID: "xdm-illisible", cda: m.XDM})
		return info, nil
	}
	var pdfs [][]byte
	for _, a := range m.Attachments {
		if strings.HasSuffix(strings.ToLower(a.Name), ".pdf") || a.ContentType == "application/pdf" {
			pdfs = append(pdfs, a.Data)
		}
	}
	rank := 0
	for _, d := range p.Documents {
		if d.CDA == nil {
			continue
		}
		r := received{cda: d.Data, documentID: d.Entry.UniqueID}
		if r.documentID == "" {
			r.documentID = iiString(d.CDA.ID)
		}
		if rank < len(pdfs) {
			r.pdf = pdfs[rank]
		}
		rank++
		r.typeCode, r.typeLabel = d.CDA.Code.Code, d.CDA.Code.DisplayName
		if r.typeCode == "" {
			r.typeCode, r.typeLabel = d.Entry.TypeCode.Code, d.Entry.TypeCode.Display
		}
		r.actDate = d.CDA.ActDate().Time
		id := d.CDA.Patient.Identity
		switch {
		case !d.Entry.INS.Matricule.IsZero():
			r.patient.INS, r.patient.OID = d.Entry.INS.Matricule.String(), string(d.Entry.INS.OID)
			r.identified = d.Entry.INS.Matricule.KeyValid()
		case !id.INS.Matricule.IsZero():
			r.patient.INS, r.patient.OID = id.INS.Matricule.String(), string(id.INS.OID)
			r.identified = id.INS.Matricule.KeyValid()
		}
		r.patient.BirthName, r.patient.GivenNames = id.BirthName, id.GivenNames
		if !id.BirthDate.IsZero() {
			r.patient.BirthDate = id.BirthDate.Format(time.DateOnly)
		}
		r.patient.Sex = sexOf(d.CDA.Patient.Gender.Code)
		r.replaces = replacedID(d.Data)
		info.docs = append(info.docs, r)
	}
	return info, nil
}

func iiString(ii cda.II) string {
	if ii.Extension == "" {
		return ii.Root
	}
	return ii.Root + "^" + ii.Extension
}

func sexOf(code string) string {
	switch code {
	case "M", "F":
		return code
	}
	return "U"
}

// replacedID returns the id of the parentDocument of a relatedDocument typeCode="RPLC", read
// from the CDA text (the cda package does not expose relatedDocument yet); "" when none.
func replacedID(doc []byte) string {
	s := string(doc)
	i := strings.Index(s, `typeCode="RPLC"`)
	if i < 0 {
		return ""
	}
	s = s[i:]
	j := strings.Index(s, "<id ")
	if j < 0 {
		return ""
	}
	s = s[j:]
	end := strings.Index(s, ">")
	if end < 0 {
		return ""
	}
	tag := s[:end]
	return iiString(cda.II{Root: attr(tag, "root"), Extension: attr(tag, "extension")})
}

func attr(tag, name string) string {
	k := name + `="`
	i := strings.Index(tag, k)
	if i < 0 {
		return ""
	}
	rest := tag[i+len(k):]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return rest[:j]
}
