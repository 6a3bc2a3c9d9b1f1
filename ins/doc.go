// Package ins implements the rules of the French national health identity (INS, Identifiant
// National de Santé) that MSSanté clients apply: the matricule INS (a 13-character NIR or NIA and
// its 2-digit key), the OIDs of the assigning authorities, qualified identities, and the patient
// mailbox address of Mon espace santé.
//
// The usual sequence:
//
//	m, err := ins.Parse("279035121518989")    // syntax and key (97 − N mod 97, 2A→19, 2B→18)
//	d := m.Decode()                           // sex, birth year and month, place of birth
//	id := ins.Identity{INS: ins.INS{Matricule: m, OID: ins.OIDTest}, BirthName: …}
//	addr, err := id.PatientAddress("")        // only for a qualified identity (ECO.2.2.6)
//
// The derogation of ECO.2.2.6 (a NIR known to the software or typed by the professional) goes
// through Derogation, which checks the key and returns the birth date and sex decoded from the
// number, for the professional to confirm before the address is used.
//
// Reading is lenient, writing is strict: Parse returns the matricule together with a *KeyError when
// only the key is wrong (official ANS samples carry such numbers), so that a reader can warn and
// go on; PatientAddress refuses it.
package ins
