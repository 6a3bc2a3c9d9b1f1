package patients

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/mssante/mssante/ins"
)

// BenchmarkSearch measures a name search in a base of 10,000 synthetic patients (a large
// practice's list). Run: go test -run XXX -bench Search ./internal/patients/
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	st, err := Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "mssante.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	names := []string{"MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU", "LEFÈVRE"}
	given := []string{"Héloïse", "Léo", "Zoé", "Jean", "Anaïs", "Noé", "Chloé", "Raphaël", "Inès", "Gaël"}
	birth, _ := ParseBirthDate("1980-01-01")
	for i := 0; i < 10000; i++ {
		m, err := ins.FromNumber(fmt.Sprintf("1800175%06d", i))
		if err != nil {
			b.Fatal(err)
		}
		_, err = st.Add(ctx, Patient{Status: StatusQualified, Identity: ins.Identity{
			INS: ins.INS{Matricule: m, OID: ins.OIDTest}, BirthName: fmt.Sprintf("%s%d", names[i%10], i/100),
			FirstName: given[(i/10)%10], GivenNames: given[(i/10)%10], BirthDate: birth, Sex: ins.SexMale}})
		if err != nil {
			b.Fatal(err)
		}
	}
	for _, q := range []string{"lefevre4", "heloise mar", "1800175000"} {
		b.Run(q, func(b *testing.B) {
			for b.Loop() {
				if _, err := st.Search(ctx, q, 20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
