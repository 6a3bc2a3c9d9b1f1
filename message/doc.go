// Package message composes and reads MSSanté mail as the ANS "Référentiel #2 – Clients de
// messageries MSSanté" (v1.0) section 3 asks (requirements ECO.2.x.y), and reads received mail for
// the professional's user interface (ECO.3.1.1–3.1.3, 3.1.6). It is the only importer of
// github.com/emersion/go-message and of its charset package, which decodes ISO-8859-x and
// Windows-125x parts of received mail.
//
// Composing:
//
//	c, err := message.Compose(&message.Draft{
//		From:  message.Address{Name: "Dr Marie MARTIN", Addr: "marie.martin@medecin.mssante.fr"},
//		To:    []message.Address{{Addr: "279035121518989@patient.mssante.fr"}},
//		Text:  "Bonjour, …",
//		CDAs:  [][]byte{cdaBytes},
//		MDN:   true,
//	}, &message.Options{NIL: "REF-PRODUIT"})
//	// c.Data is the mail for SMTP DATA; c.Warnings are to show to the professional.
//
// With documents, Compose parses each CDA (cda.Parse), packages them as IHE_XDM.zip (xdm.Build),
// reads the archive back (xdm.Read) to derive X-MSS-CODECDA and X-MSS-INS from what is actually
// attached, renders one PDF/A-1 per document (pdfa.Render; an N1 document's embedded PDF as is,
// or converted to PDF/A-1b by Options.ConvertN1 when it is not PDF/A-1), and writes multipart/mixed: the body, IHE_XDM.zip, then the PDFs.
//
// Decisions where the referential leaves a choice:
//
//   - Subject with documents (ECO.2.1.3): always the generated
//     "XDM/1.0/DDM+<label> <NOM> <PRENOM> <JJ/MM/AAAA>"; receivers parse it, so a Draft.Subject that
//     differs is replaced and a warning says so. Without documents the user's subject is used, and
//     an "XDM/1.0/DDM+" prefix is removed (a mail without XDM must not claim one). The label keeps
//     its accents and case (the referential's examples do); both names are upper case without
//     diacritics (INS-RNIV: É→E, Œ→OE, Æ→AE, ß→SS; hyphens, apostrophes and spaces kept). "N documents"
//     is used whenever there are several documents. The birth date is left out when the CDA has no
//     day-precision birthTime.
//   - PDF names (ECO.2.1.6): "<AAAAMMJJ>_<type ≤ 40>_<NOM>_<Prénom>[_<dossier>].pdf": type as
//     displayName (accents kept, like the referential's "CR d'anesthésie"), NOM upper case without
//     diacritics, first name without diacritics in its case as written; / \ : * ? " < > | and control
//     characters become "_". Types are cut to 40 Unicode characters (NFC), not bytes.
//   - X-MSS-CODECDA (ECO.2.4.1) joins the codes with ", " as the referential's example
//     "34112-3, PRESC-BIO, 15508-5". X-MSS-INS is "O" when a document of the archive carries a
//     qualified INS (matricule with a valid key under an INS OID, birth name, first name, birth
//     date, sex), else "N". Both are absent without XDM.
//   - X-MSS-NIL (ECO.2.4.3) is Options.NIL, else DefaultNIL: deployments set their "référence
//     produit" from convergence.esante.gouv.fr. Every mail gets it, read receipts included.
//   - Patient recipients (ECO.2.2.6): an address in the patient domain must be a matricule with a
//     valid key. With documents, the documents' INS must be qualified and equal to the address
//     matricule; without documents, the matricule must be one of Draft.Patients (known qualified
//     identities, the patient picker of ECO.3.1.5). Otherwise only Draft.Derogation allows it
//     (ins.Derogation: key checked, birth month/year and sex returned in Composed.Derogations and
//     Warnings for the professional to confirm). A documents' matricule that differs from the
//     address is refused even under the derogation.
//   - X-MSS-MES: FIN (ECO.2.2.8) only with a patient recipient; mails to a patient over
//     MaxPatientMailSize (25 Mo, decimal) are refused before sending.
//   - Sender label (ECO.2.2.7): Draft.From.Name is used as given; SenderLabel builds it from
//     title, first name, NAME and entity (fields separated by spaces as in the examples).
//   - Applicative mailbox (ECO.2.2.5): Draft.AppContact adds a French closing notice naming the
//     contact mailbox to the text and HTML bodies, and sets Reply-To to it.
//   - Body (ECO.2.2.3, 2.2.4): UTF-8, quoted-printable; text/plain alone, or multipart/alternative
//     with text/plain first and text/html second. An HTML body without text is refused.
//   - DSN and MDN requests (ECO.2.3.1, 2.3.2): Return-Receipt-To: <sender>, and
//     Disposition-Notification-To: the sender with its label.
//   - Options.Now and Options.Rand make the output byte-exact (Message-ID, boundaries, the XDM).
//
// Reading:
//
//	m, err := message.Parse(raw, nil)
//	// m.SenderKind, m.Patient (birth name, first name, INS), m.DisplaySubject, m.Documents
//	// (patientId of METADATA.XML), m.PDFs, m.MDNRequested, m.DSNRequested, m.Headers, m.Reports.
//
// Parse is lenient: an unknown charset, a broken part or a broken archive become Warnings and
// what could be read is returned. A patient's identity comes from the From label (words in capitals
// are the birth name; when case does not tell, the order of the referential's example « Léo
// Dupond », first name first, is taken, with a warning) and the INS from the address. Reports are
// RFC 3464 delivery status notifications (per recipient: action, status, diagnostic), RFC 8098
// MDNs, and Mon espace santé's "Message non distribué" notices (recipient and reason from the
// text).
//
// Read receipts: BuildMDN answers a received mail that asks for one (ECO.3.1.6) with a
// multipart/report "displayed" MDN, manual-action/MDN-sent-manually (sent once the professional
// saw the mail).
package message
