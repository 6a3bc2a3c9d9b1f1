// Package patients is the base of known patients: the patients a professional may write to
// through their Mon espace santé mailbox (ECO.3.1.5), each with the INS traits, the status of the
// identity in the RNIV vocabulary and an opposition to MSSanté exchange.
//
// The usual sequence:
//
//	st, err := patients.Open(ctx, filepath.Join(dataDir, "patients.db"))
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
// The store is one SQLite file (modernc.org/sqlite, no cgo) with its own numbered migrations.
package patients
