package mailbox_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mssante/mssante/internal/mailbox"
	"github.com/mssante/mssante/internal/patients"
)

// ECO.2.2.6: a NIR typed for a patient unknown to the software goes only through the derogation:
// key checked, traits decoded for confirmation; a wrong key is refused in French.
func TestTypedDerogation(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	r, err := mailbox.TypedDerogation("279035121518989", "", now)
	if err != nil || r.Derogation == nil || r.Address != "279035121518989@patient.mssante.fr" || len(r.NotQualified) == 0 {
		t.Fatalf("TypedDerogation = %+v, %v", r, err)
	}
	_, err = mailbox.TypedDerogation("221042545611404", "", now)
	var re *patients.RefusalError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "clé") {
		t.Errorf("wrong key: %v", err)
	}
}
