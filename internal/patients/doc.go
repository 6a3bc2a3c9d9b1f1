// Package patients is the base of known patients: the patients a professional may write to
// through their Mon espace santé mailbox (ECO.3.1.5), each with the INS traits, the status of the
// identity in the RNIV vocabulary and an opposition to MSSanté exchange.
//
// The usual sequence:
//
//	st, err := patients.Open(ctx, store.DefaultURL(dataDir))  // or patients.New(db) on an open store.DB
//	p, err := st.Add(ctx, patients.Patient{Identity: id, Status: patients.StatusQualified})
//	found, err := st.Search(ctx, "heloise", 20)  // names accent and case folded, or matricule prefix
//	addr, err := p.Address("")                   // only a qualified identity (ECO.2.2.6)
//
// When Address refuses because the identity is not qualified, the temporary derogation of
// ECO.2.2.6 goes through Patient.Derogation (a NIR known to the software) or DerogationTyped (a NIR
// typed by the professional): the key is checked and the birth date and sex decoded from the number
// are returned for the professional to confirm. An opposition to MSSanté exchange refuses both.
// Minors are written to at their own address, like adults.
//
// The base is two tables of the main database (internal/store, SQLite or PostgreSQL), created by
// Migrations through the one migration runner. Search works the same on both dialects: a table of
// the folded words of the names (patient_words) searched by word-prefix range, no FTS engine.
// Earlier releases kept the base in its own file, <data-dir>/patients.db; Store.ImportLegacy
// copies such a file into the main database (cmd/mssante does it once, then renames the file to
// patients.db.imported).
package patients
