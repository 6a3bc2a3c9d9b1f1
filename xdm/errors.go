package xdm

import "errors"

// Errors returned by Read and Build. Callers branch on them with errors.Is; the returned errors
// wrap them with the entry or document concerned.
var (
	// ErrNotZip: the data is not a readable ZIP archive (truncated, corrupt or another format).
	// The attachment cannot be used; ask the sender for a new one.
	ErrNotZip = errors.New("xdm: not a zip archive")
	// ErrNoMetadata: no IHE_XDM/<subset>/METADATA.XML in the archive, or one that cannot be read.
	// The patient cannot be identified from the archive (ECO.2.1.2).
	ErrNoMetadata = errors.New("xdm: no readable METADATA.XML")
	// ErrZipSlip: an entry name is absolute, contains "..", a drive letter or a NUL ("\" counts as
	// "/", as some Windows archivers write it): extracting it would write outside the target
	// folder. The archive is refused as hostile.
	ErrZipSlip = errors.New("xdm: unsafe entry path")
	// ErrZipBomb: the archive expands beyond ReadOptions.MaxTotal, an entry beyond
	// ReadOptions.MaxRatio times its compressed size, or it holds more than ReadOptions.MaxFiles
	// entries. The archive is refused.
	ErrZipBomb = errors.New("xdm: archive expands too much")
	// ErrDuplicateEntry: two entries have the same name (compared case-insensitively, as FAT
	// media do). Which one is meant cannot be decided; the archive is refused.
	ErrDuplicateEntry = errors.New("xdm: duplicate entry name")
	// ErrEntryTooLarge: one entry is larger than ReadOptions.MaxEntry. The archive is refused.
	ErrEntryTooLarge = errors.New("xdm: entry too large")
	// ErrHashMismatch: a document's SHA-1 differs from the hash slot of its metadata: it was
	// altered or the metadata are wrong. The document must not be trusted as sent.
	ErrHashMismatch = errors.New("xdm: document hash differs from metadata")
	// ErrSizeMismatch: a document's length differs from the size slot of its metadata.
	ErrSizeMismatch = errors.New("xdm: document size differs from metadata")
	// ErrDoctype: METADATA.XML carries a DOCTYPE (DTD, entities); it is refused, never expanded.
	ErrDoctype = errors.New("xdm: DOCTYPE not allowed in METADATA.XML")
	// ErrMissingDocument: the metadata reference a URI that is not in the archive (a warning).
	ErrMissingDocument = errors.New("xdm: document referenced by metadata is missing")
	// ErrUnlisted: a file of the subset folder has no DocumentEntry (a warning; the file is kept).
	ErrUnlisted = errors.New("xdm: file not described by metadata")
	// ErrNoINS: the patientId is not an INS (matricule under an INS OID); the patient must be
	// identified by other means (a warning).
	ErrNoINS = errors.New("xdm: patientId is not an INS")
	// ErrTwoPatients: Build was given CDA documents of different patients; a mail concerns one
	// patient only (ECO.2.1.1). Send one mail per patient.
	ErrTwoPatients = errors.New("xdm: documents concern different patients")
	// ErrNoDocument: Build was given no document.
	ErrNoDocument = errors.New("xdm: no document")
	// ErrNoPatient: a CDA given to Build identifies no patient (no recordTarget/patientRole/id).
	ErrNoPatient = errors.New("xdm: document identifies no patient")
	// ErrTooManyDocuments: more than 9999 documents, the most 8.3 names DOC0001…DOC9999 allow.
	ErrTooManyDocuments = errors.New("xdm: too many documents")
)
