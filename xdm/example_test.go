package xdm_test

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/mssante/mssante/xdm"
)

// Pack a CDA for a professional, then read the archive as the receiver does and identify the
// patient by the patientId of the metadata (ECO.2.1.2).
func Example() {
	cdaBytes, err := os.ReadFile("testdata/cr-consultation.xml")
	if err != nil {
		fmt.Println(err)
		return
	}
	pkg, err := xdm.Build([][]byte{cdaBytes}, &xdm.BuildOptions{
		Now:        func() time.Time { return time.Date(2025, 3, 14, 11, 30, 0, 0, time.UTC) },
		Recipients: []string{"paul.roche@cardio-parc.mssante.fr"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	var zip bytes.Buffer
	if _, err := pkg.WriteTo(&zip); err != nil {
		fmt.Println(err)
		return
	}

	received, err := xdm.Read(zip.Bytes(), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range received.Documents {
		fmt.Println(d.Path, d.Entry.PatientID, d.Entry.INS.Matricule, d.CDA.Level)
	}
	// Output:
	// IHE_XDM/SUBSET01/DOC0001.XML 285037511204553^^^&1.2.250.1.213.1.4.10&ISO^NH 285037511204553 N3
}
