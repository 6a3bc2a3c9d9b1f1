package cda_test

import (
	"fmt"
	"log"
	"os"

	"github.com/mssante/mssante/cda"
)

func ExampleRead() {
	f, err := os.Open("testdata/n3-lettre-liaison.xml")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	doc, err := cda.Read(f)
	if err != nil {
		log.Fatal(err) // cda.ErrDTD, cda.ErrNotCDA, cda.ErrNoPatient, cda.ErrMalformed, cda.ErrTooLarge
	}
	id := doc.Patient.Identity
	fmt.Println(doc.Level, doc.Code.Code, doc.Title)
	fmt.Println(id.INS.CX())
	fmt.Println(id.BirthName, id.UsedName, id.FirstName, id.BirthDate.Format("02/01/2006"), id.Sex)
	fmt.Println("qualified:", id.Qualified() == nil, "act date:", doc.ActDate())
	for _, s := range doc.Sections {
		fmt.Println("-", s.Title)
	}
	// Output:
	// N3 11490-0 Lettre de liaison de sortie
	// 291121305508744^^^&1.2.250.1.213.1.4.10&ISO^NH
	// LEFÈVRE MARTIN-DUPRÉ Françoise 03/12/1991 F
	// qualified: true act date: 2025-02-14
	// - Motif d'hospitalisation
	// - Synthèse du séjour
	// - Traitements de sortie
}
