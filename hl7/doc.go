// Package hl7 writes and reads the HL7 v2 messages of the CI-SIS volet "Transmission LPS de
// documents CDA reçus par courriel MSSanté" (ANS, IG-hl7v2-volet-trans-lps-doc-cda-courriel-mss,
// HL7 v2.6 with PRT pre-adopted from v2.9): the integration platform that reads a received MSSanté
// mail sends one MDM per CDA document to the record system (DPI, RIS) and reads its ACK.
//
// The usual sequence (the MLLP transport is package hl7/mllp):
//
//	doc := &hl7.Document{CDA: data, Header: parsed, Mail: hl7.Mail{MessageID: …, From: …}}
//	msg, err := hl7.BuildMDM(doc, hl7.Envelope{ControlID: id, Time: now, …})
//	// MDM^T02^MDM_T02, or MDM^T10^MDM_T02 when the CDA replaces a document (relatedDocument RPLC)
//	ack, err := mllp.Send(ctx, addr, msg)          // or write msg to a file
//	switch {
//	case ack.Accepted():                           // AA: integrated
//	case ack.Retry():                              // AR, or unknown patient (902): send again later
//	default:                                       // AE: rejected for good; ack.Errors say why
//	}
//
// Writing is strict and deterministic: the control id (MSH-10) and the time (MSH-7) come from the
// caller, delimiters in values are escaped (\F\ \S\ \T\ \R\ \E\, control characters as \Xhh\),
// segments end with CR. Reading (Parse, ParseAck) is lenient on segment terminators (CR, LF or
// CRLF) and strict on the delimiters of MSH-2; it serves the ACKs of record systems, which are
// outside input. The package does no I/O.
package hl7
