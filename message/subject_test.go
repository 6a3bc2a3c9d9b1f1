package message

import (
	"errors"
	"testing"
)

func vial(typeName, code string) DocumentInfo {
	return DocumentInfo{Code: code, TypeName: typeName, ActDate: "20150802101500+0200",
		Patient: PatientNames{INS: "178112612345678", BirthName: "Vial", FirstName: "Paul", BirthDate: "19781126"}}
}

// ECO.2.1.3: the referential's examples, names in upper case as INS-RNIV asks.
func TestSubject_ECO_2_1_3(t *testing.T) {
	bio := vial("CR d'examens biologiques", "11502-2")
	lettre := vial("Lettre de liaison à la sortie d'un établissement de soins", "11490-0")
	anest := vial("CR d'anesthésie", "34749-2")
	for _, tc := range []struct {
		name string
		docs []DocumentInfo
		want string
	}{
		{"one", []DocumentInfo{bio}, "XDM/1.0/DDM+CR d'examens biologiques VIAL PAUL 26/11/1978"},
		{"cut to 40", []DocumentInfo{lettre}, "XDM/1.0/DDM+Lettre de liaison à la sortie d'un établ VIAL PAUL 26/11/1978"},
		{"two", []DocumentInfo{bio, lettre}, "XDM/1.0/DDM+2 documents VIAL PAUL 26/11/1978"},
		{"three", []DocumentInfo{bio, lettre, anest}, "XDM/1.0/DDM+3 documents VIAL PAUL 26/11/1978"},
	} {
		got, err := Subject(tc.docs)
		if err != nil || got != tc.want {
			t.Errorf("%s: Subject = %q, %v, want %q", tc.name, got, err, tc.want)
		}
	}
}

// ECO.2.1.3: the birth date is optional; accents go; the used name stands in for a missing birth name.
func TestSubject_withoutBirthDate(t *testing.T) {
	d := DocumentInfo{TypeName: "CR d'imagerie médicale", Patient: PatientNames{UsedName: "Béranger", FirstName: "Éloïse", BirthDate: "1985"}}
	got, err := Subject([]DocumentInfo{d})
	if want := "XDM/1.0/DDM+CR d'imagerie médicale BERANGER ELOISE"; err != nil || got != want {
		t.Errorf("Subject = %q, %v, want %q", got, err, want)
	}
}

// ECO.2.1.3: "format calendaire ou lunaire accepté".
func TestSubject_lunarBirthDate(t *testing.T) {
	d := DocumentInfo{TypeName: "Note de consultation", Patient: PatientNames{BirthName: "Diallo", FirstName: "Awa", BirthDate: "19800000"}}
	if got, _ := Subject([]DocumentInfo{d}); got != "XDM/1.0/DDM+Note de consultation DIALLO AWA 00/00/1980" {
		t.Errorf("Subject = %q", got)
	}
}

// ECO.2.1.1: one patient per mail.
func TestSubject_refusesTwoPatients(t *testing.T) {
	a := vial("CR d'examens biologiques", "11502-2")
	b := a
	b.Patient.INS = "285077505612370"
	if _, err := Subject([]DocumentInfo{a, b}); !errors.Is(err, ErrSeveralPatients) {
		t.Errorf("Subject(two INS) error = %v, want ErrSeveralPatients", err)
	}
	c := a
	c.Patient = PatientNames{BirthName: "Autre", FirstName: "Paul", BirthDate: "19781126"}
	if _, err := Subject([]DocumentInfo{a, c}); !errors.Is(err, ErrSeveralPatients) {
		t.Errorf("Subject(two names) error = %v, want ErrSeveralPatients", err)
	}
}

// ECO.3.1.3: the XDM prefix is hidden from the professional.
func TestDisplaySubject_ECO_3_1_3(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"XDM/1.0/DDM+CR d'examens biologiques VIAL PAUL 26/11/1978", "CR d'examens biologiques VIAL PAUL 26/11/1978"},
		{"xdm/1.0/ddm+2 documents VIAL PAUL", "2 documents VIAL PAUL"},
		{"Re: votre patient", "Re: votre patient"},
		{"XDM/1.0/DDM", "XDM/1.0/DDM"},
	} {
		if got := DisplaySubject(tc.in); got != tc.want {
			t.Errorf("DisplaySubject(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// ECO.2.1.6: the referential's examples of PDF names.
func TestPDFName_ECO_2_1_6(t *testing.T) {
	for _, tc := range []struct {
		doc    DocumentInfo
		record string
		want   string
	}{
		{vial("CR d'examens biologiques", ""), "12150302014578", "20150802_CR d'examens biologiques_VIAL_Paul_12150302014578.pdf"},
		{vial("Lettre de liaison à la sortie d'un établissement de soins", ""), "", "20150802_Lettre de liaison à la sortie d'un établ_VIAL_Paul.pdf"},
		{vial("CR d'anesthésie", ""), "", "20150802_CR d'anesthésie_VIAL_Paul.pdf"},
		{DocumentInfo{TypeName: "CR a/b: c?", Patient: PatientNames{BirthName: "Lefèvre", FirstName: "Françoise"}}, "A/1", "20260314_CR a_b_ c__LEFEVRE_Francoise_A_1.pdf"},
	} {
		if got := PDFName(tc.doc, tc.record, "20260314"); got != tc.want {
			t.Errorf("PDFName(%q) = %q, want %q", tc.doc.TypeName, got, tc.want)
		}
	}
}

// ECO.2.1.3, ECO.2.1.6: a type whose 40th character is a space is cut without it, so the subject
// has single spaces and the PDF name no "type _NOM"; a missing first name leaves no empty field.
func TestSubject_cutAtSpaceAndMissingName(t *testing.T) {
	// "Compte rendu de consultation spécialisé" is 39 characters; the 40th is the space.
	d := vial("Compte rendu de consultation spécialisé en cardiologie", "11488-4")
	if got, want := typeLabel(d), "Compte rendu de consultation spécialisé"; got != want {
		t.Fatalf("typeLabel = %q, want %q", got, want)
	}
	got, err := Subject([]DocumentInfo{d})
	if want := "XDM/1.0/DDM+Compte rendu de consultation spécialisé VIAL PAUL 26/11/1978"; err != nil || got != want {
		t.Errorf("Subject = %q, %v, want %q", got, err, want)
	}
	if got, want := PDFName(d, "", ""), "20150802_Compte rendu de consultation spécialisé_VIAL_Paul.pdf"; got != want {
		t.Errorf("PDFName = %q, want %q", got, want)
	}
	d.Patient.FirstName = ""
	if got, _ := Subject([]DocumentInfo{d}); got != "XDM/1.0/DDM+Compte rendu de consultation spécialisé VIAL 26/11/1978" {
		t.Errorf("Subject without first name = %q", got)
	}
}

// ECO.3.1.3: the XDM prefix is hidden also behind reply and forward markers; other subjects are
// unchanged.
func TestDisplaySubject_replyMarkers_ECO_3_1_3(t *testing.T) {
	for in, want := range map[string]string{
		"XDM/1.0/DDM+CR d'imagerie VIAL PAUL":            "CR d'imagerie VIAL PAUL",
		"RE: XDM/1.0/DDM+CR d'imagerie VIAL PAUL":        "RE: CR d'imagerie VIAL PAUL",
		"Re : TR: xdm/1.0/ddm+2 documents VIAL PAUL":     "Re : TR: 2 documents VIAL PAUL",
		"RE[2]: Fwd:XDM/1.0/DDM+CR VIAL PAUL":            "RE[2]: Fwd:CR VIAL PAUL",
		"Re: résultats":                                  "Re: résultats",
		"Rendez-vous: XDM/1.0/DDM+ n'est pas un préfixe": "Rendez-vous: XDM/1.0/DDM+ n'est pas un préfixe",
		"RE":  "RE",
		"Re:": "Re:",
		"  ":  "",
	} {
		if got := DisplaySubject(in); got != want {
			t.Errorf("DisplaySubject(%q) = %q, want %q", in, got, want)
		}
	}
	if !HasXDMPrefix("RE: XDM/1.0/DDM+CR VIAL PAUL") || HasXDMPrefix("Re: résultats") {
		t.Error("HasXDMPrefix does not see the prefix behind a reply marker")
	}
}
