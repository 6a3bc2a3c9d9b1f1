package patients_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mssante/mssante/ins"
	"github.com/mssante/mssante/internal/patients"
)

// Record a patient, find them by name and get their Mon espace santé address; an identity that is
// not qualified is refused and goes through the derogation instead.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "patients")
	defer func() { _ = os.RemoveAll(dir) }()
	st, err := patients.Open(ctx, "sqlite:"+filepath.Join(dir, "mssante.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = st.Close() }()

	m, _ := ins.FromNumber("2790351215189") // synthetic test NIR
	birth, _ := patients.ParseBirthDate("1979-03-12")
	p, err := st.Add(ctx, patients.Patient{
		Identity: ins.Identity{INS: ins.INS{Matricule: m, OID: ins.OIDTest}, BirthName: "LEFÈVRE",
			FirstName: "Héloïse", GivenNames: "Héloïse", BirthDate: birth, Sex: ins.SexFemale},
		Status: patients.StatusRetrieved,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	found, _ := st.Search(ctx, "heloise lefevre", 10)
	fmt.Println(len(found), found[0].Identity.BirthName)

	_, err = p.Address("")
	var refusal *patients.RefusalError
	fmt.Println(errors.As(err, &refusal), refusal.DerogationPossible)

	d, _ := p.Derogation("", time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC))
	fmt.Println(d.Address, d.Decoded.Sex, d.BirthYear, d.Decoded.Month)

	p.Status = patients.StatusQualified
	addr, _ := p.Address("")
	fmt.Println(addr)
	// Output:
	// 1 LEFÈVRE
	// true true
	// 279035121518989@patient.mssante.fr F 1979 March
	// 279035121518989@patient.mssante.fr
}
