// Package xdm reads and writes IHE XDM media (IHE ITI TF-1 §16, transaction ITI-32 "Distribute
// Document Set on Media", metadata per ITI TF-3 §4.1-4.2) as the French CI-SIS and MSSanté use
// them: a ZIP archive holding INDEX.HTM and README.TXT at the root and one submission set folder
// IHE_XDM/SUBSET01/ with the CDA R2 documents (DOC0001.XML…) and METADATA.XML, an ebRIM 3.0
// SubmitObjectsRequest.
//
// Writing (a sender, ECO.2.1.1):
//
//	pkg, err := xdm.Build([][]byte{cdaBytes}, &xdm.BuildOptions{Recipients: []string{"dr@x.mssante.fr"}})
//	// err wraps ErrTwoPatients when the documents concern different patients
//	_, err = pkg.WriteTo(w) // deterministic ZIP: same input, same Now and Rand, same bytes
//
// The metadata are derived from each CDA header following ANS's rules linking the CDA header and
// the XDS metadata (typeCode = code, classCode from the type, formatCode from the templateId or the
// N1 media type, creationTime = effectiveTime, serviceStart/StopTime = serviceEvent, patientId =
// the INS as an HL7 CX "matricule^^^&OID&ISO^NH"…). See mapping.go.
//
// Reading (a receiver, ECO.2.1.2):
//
//	pkg, err := xdm.Read(zipBytes, nil) // nil: default limits
//	for _, d := range pkg.Documents {
//		d.Entry.PatientID // "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
//		d.Entry.INS       // parsed, zero when the patientId is not an INS
//	}
//
// Read is safe on hostile input: paths escaping the archive (ErrZipSlip), compression bombs
// (ErrZipBomb), duplicate names (ErrDuplicateEntry) and oversize entries (ErrEntryTooLarge) stop
// it, the XML is read without DTD or external entities, and every size is bounded by ReadOptions.
// It is tolerant of what real archives do: METADATA.XML without namespace declarations, a BOM,
// CRLF, leading whitespace, a subset folder not named SUBSET01 and URIs relative to IHE_XDM/
// rather than to the subset folder. Those deviations are reported as warnings, never dropped.
// A document whose hash or size disagrees with the metadata makes Read return the package and an
// error wrapping ErrHashMismatch or ErrSizeMismatch.
//
// The package does no I/O besides its io.Writer and imports no network package.
package xdm
