package message

import (
	"bytes"
	"fmt"
	"mime"
	"path"
	"strings"
	"unicode"
)

// checkFiles refuses plain attachments a receiver could not save under their name, or would take
// for the MSSanté archive (ECO.2.1.1 names it IHE_XDM.zip; receivers look for that name).
func checkFiles(files []File) error {
	for i, f := range files {
		name := strings.TrimSpace(f.Name)
		switch {
		case name == "" || name == "." || name == "..":
			return fmt.Errorf("%w %d: no file name", ErrFile, i+1)
		case strings.ContainsAny(name, `/\`):
			return fmt.Errorf("%w %d: %q is a path, give the file name only", ErrFile, i+1, f.Name)
		case strings.IndexFunc(name, unicode.IsControl) >= 0:
			return fmt.Errorf("%w %d: %q carries control characters", ErrFile, i+1, f.Name)
		case strings.EqualFold(name, XDMFileName):
			return fmt.Errorf("%w %d: %s is the name of the MSSanté archive, built from the CDA documents", ErrFile, i+1, XDMFileName)
		}
		if f.ContentType != "" {
			if _, _, err := mime.ParseMediaType(f.ContentType); err != nil {
				return fmt.Errorf("%w %d: MIME type %q: %w", ErrFile, i+1, f.ContentType, err)
			}
		}
	}
	return nil
}

// files returns the plain attachments of d, with their MIME types resolved; a file that holds a
// CDA document is a warning (it should be one of Draft.CDAs, packaged in IHE_XDM.zip).
func (c *Composed) files(d *Draft) []attachment {
	out := make([]attachment, 0, len(d.Files))
	for _, f := range d.Files {
		name := strings.TrimSpace(f.Name)
		out = append(out, attachment{name: name, contentType: fileType(name, f.ContentType), data: f.Data})
		if looksLikeCDA(f.Data) {
			c.Warnings = append(c.Warnings, fmt.Sprintf("le fichier %q est un document CDA joint comme simple fichier : "+
				"joint comme document, il serait empaqueté dans IHE_XDM.zip et intégrable par le destinataire (ECO.2.1.1)", name))
		}
	}
	return out
}

// fileType is the MIME type given (normalised, parameters kept), else the one of the name's
// extension in the standard library's built-in table, else application/octet-stream.
func fileType(name, given string) string {
	if given != "" {
		if t, params, err := mime.ParseMediaType(given); err == nil {
			delete(params, "name") // written from the file name
			return mime.FormatMediaType(t, params)
		}
	}
	if t := mime.TypeByExtension(strings.ToLower(path.Ext(name))); t != "" {
		if mt, params, err := mime.ParseMediaType(t); err == nil {
			return mime.FormatMediaType(mt, params)
		}
	}
	return "application/octet-stream"
}

// looksLikeCDA reports whether data starts like an HL7 CDA R2 document.
func looksLikeCDA(data []byte) bool {
	head := data[:min(len(data), 4096)]
	return bytes.Contains(head, []byte("<ClinicalDocument")) && bytes.Contains(head, []byte("urn:hl7-org:v3"))
}
