package message

import "errors"

// Errors Compose and BuildMDN return. Callers branch on them with errors.Is; the returned errors
// wrap them with the recipient or document concerned. The message of each is meant for the
// professional's software, which shows its own French text.
var (
	// ErrSeveralPatients: the documents concern more than one patient. A mail carrying health
	// documents concerns one patient only (ECO.2.1.1): send one mail per patient.
	ErrSeveralPatients = errors.New("message: documents concern several patients")
	// ErrNoDocument: a subject or a package was asked for without any document.
	ErrNoDocument = errors.New("message: no document")
	// ErrPatientNotQualified: a patient recipient (Mon espace santé) whose address is not built
	// from a qualified INS, outside the derogation path (ECO.2.2.6). Qualify the identity, or use
	// the derogation after the professional confirmed the birth date and sex.
	ErrPatientNotQualified = errors.New("message: patient address not built from a qualified INS")
	// ErrPatientMismatch: a patient recipient is not the patient of the attached documents.
	ErrPatientMismatch = errors.New("message: patient recipient is not the documents' patient")
	// ErrPatientAddress: a patient-domain address whose local part is not a matricule INS with a
	// valid key. It cannot reach anyone: correct the address.
	ErrPatientAddress = errors.New("message: invalid patient address")
	// ErrMESFinWithoutPatient: X-MSS-MES: FIN was asked for a mail with no patient recipient
	// (ECO.2.2.8 applies to mails to Mon espace santé only).
	ErrMESFinWithoutPatient = errors.New("message: X-MSS-MES: FIN needs a patient recipient")
	// ErrTooLargeForPatient: the mail is over the Mon espace santé size limit (MaxPatientMailSize)
	// and a recipient is a patient; MES would bounce it. Send fewer or smaller documents.
	ErrTooLargeForPatient = errors.New("message: mail too large for Mon espace santé")
	// ErrNoRecipient: no To or Cc recipient.
	ErrNoRecipient = errors.New("message: no recipient")
	// ErrAddress: an address that is not a valid RFC 5322 mailbox.
	ErrAddress = errors.New("message: invalid address")
	// ErrSenderLabel: the From label is empty or, for a personal mailbox, lacks the first name
	// or the name (ECO.2.2.7).
	ErrSenderLabel = errors.New("message: sender label incomplete")
	// ErrHTMLWithoutText: an HTML body without its plain-text twin (ECO.2.2.4 wants both).
	ErrHTMLWithoutText = errors.New("message: HTML body needs a plain-text body")
	// ErrNoMDNRequested: BuildMDN was called for a mail that asks for no read receipt.
	ErrNoMDNRequested = errors.New("message: the mail asks for no read receipt")
	// ErrXDM: the XDM archive could not be built or read back.
	ErrXDM = errors.New("message: IHE XDM archive")
	// ErrPDF: a PDF/A rendering failed.
	ErrPDF = errors.New("message: PDF/A rendering")
	// ErrNoTypeCode: a CDA document has no type code (ClinicalDocument/code/@code), so the
	// X-MSS-CODECDA header cannot be set (ECO.2.4.1). The producer of the document must fix it.
	ErrNoTypeCode = errors.New("message: CDA document without type code")
	// ErrFile: a plain attachment (Draft.Files) without a usable name (empty, a path, control
	// characters, or the name of the MSSanté archive IHE_XDM.zip) or with an invalid MIME type.
	ErrFile = errors.New("message: invalid attachment")
	// ErrCDA: a CDA document could not be read.
	ErrCDA = errors.New("message: CDA document")
)
