// Package cda reads HL7 CDA R2 documents as the French CI-SIS (Cadre d'Interopérabilité des
// Systèmes d'Information de Santé, ANS) shapes them: the header that MSSanté and XDM metadata need
// (document type, dates, patient and INS, authors, custodian, legal authenticator, act,
// healthcare facility) and the body, either a level-3 structuredBody of nested sections with their
// narrative block, or a level-1 nonXMLBody embedding a document (a PDF in base64).
//
// The usual sequence:
//
//	doc, err := cda.Read(f)                  // bounded input (Options.MaxSize), no DTD, no entity
//	if err != nil { … }                      // ErrDTD, ErrNotCDA, ErrNoPatient, ErrMalformed, ErrTooLarge
//	for _, w := range doc.Warnings { … }     // wrong INS key (*ins.KeyError), legacy INS-C, times…
//	doc.Level                                // cda.N1 or cda.N3
//	doc.Code.Code                            // X-MSS-CODECDA, XDS typeCode
//	err = doc.Patient.Identity.Qualified()   // X-MSS-INS, patient mailbox
//	doc.Sections / doc.Body                  // N3 narrative tree / N1 embedded PDF
//
// Reading is lenient where CI-SIS samples deviate (a wrong INS key is kept with a warning, missing
// name qualifiers fall back to the unqualified parts) and strict on what could harm the reader:
// documents declaring a DTD or entities are refused, input is size-bounded, nesting is bounded,
// and no input makes the reader panic.
package cda
