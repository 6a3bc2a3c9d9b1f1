package mailbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/mssante/mssante/internal/patients"
	"github.com/mssante/mssante/message"
	"github.com/mssante/mssante/xdm"
)

// ParseOptions tune ParseStored.
type ParseOptions struct {
	// PatientDomain is the patients' mail domain; ins.DefaultPatientDomain when empty.
	PatientDomain string
	// Patients, when set, are the known patients the mail's patient is matched against.
	Patients PatientDirectory
}

// Parsed is a stored message (a body of the local index, a parent being answered) read with the
// message rules, for a delivery room that must not call message or xdm itself.
type Parsed struct {
	*message.Message
	// Package is the IHE XDM archive of the mail read (its documents), nil when the mail has
	// none or when it cannot be read (PackageErr says why; its documents are then not shown).
	Package    *xdm.Package
	PackageErr error
	// PatientINS is the matricule the mail concerns (its documents' patient, else the Mon espace
	// santé sender), empty when it names none; Patients are the known patients of it.
	PatientINS string
	Patients   []patients.Patient
}

// ParseStored parses raw (a stored RFC 5322 message) and its XDM archive. The patient match is
// made only when o.Patients is set; no known patient is an empty match.
func ParseStored(ctx context.Context, raw []byte, o ParseOptions) (*Parsed, error) {
	m, err := message.Parse(raw, &message.ReadOptions{PatientDomain: o.PatientDomain})
	if err != nil {
		return nil, fmt.Errorf("parsing a stored message: %w", err)
	}
	p := &Parsed{Message: m, PatientINS: mailPatientINS(m)}
	if len(m.XDM) > 0 {
		p.Package, p.PackageErr = xdm.Read(m.XDM, nil)
	}
	if p.PatientINS != "" && o.Patients != nil {
		if p.Patients, err = o.Patients.ByMatricule(ctx, p.PatientINS); err != nil && !errors.Is(err, patients.ErrNotFound) {
			return p, fmt.Errorf("known patients: %w", err)
		}
	}
	return p, nil
}

// Parent is the reference an answer to p carries (In-Reply-To, References, subject).
func (p *Parsed) Parent() *message.Parent { return message.ParentOf(p.Message) }

// CDAs are the CDA documents of p's XDM archive, as a forward packages them again; an archive
// that cannot be read is an error (a forward is never silently incomplete).
func (p *Parsed) CDAs() ([][]byte, error) {
	if p.PackageErr != nil {
		return nil, fmt.Errorf("reading the forwarded IHE_XDM.zip: %w", p.PackageErr)
	}
	if p.Package == nil {
		return nil, nil
	}
	var out [][]byte
	for _, d := range p.Package.Documents {
		if d.CDA != nil {
			out = append(out, d.Data)
		}
	}
	return out, nil
}

// ErrNoCDA: an XDM archive carries no CDA document.
var ErrNoCDA = errors.New("no CDA document in the XDM archive")

// XDMDocuments reads an IHE XDM archive (an IHE_XDM.zip uploaded or dropped by software) into
// the CDA documents it carries, in the order of its metadata, as a Draft's CDAs take them (each
// is packaged again with its PDF/A rendering). An unreadable archive is an error; one without a
// CDA document is ErrNoCDA.
func XDMDocuments(zip []byte) ([][]byte, error) {
	pkg, err := xdm.Read(zip, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the XDM archive: %w", err)
	}
	p := &Parsed{Package: pkg}
	out, _ := p.CDAs()
	if len(out) == 0 {
		return nil, ErrNoCDA
	}
	return out, nil
}

// SafeFileName is name with the characters common file systems forbid replaced by "_" (ECO.2.1.6).
func SafeFileName(name string) string { return message.SanitizeFileName(name) }
