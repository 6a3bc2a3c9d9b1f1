package gateway

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/mssante/mssante/internal/store"
	"github.com/mssante/mssante/internal/store/storetest"
)

// Issue 13 item 2: the OpenAPI 3.1 document served at /api/v1/openapi.json is valid for an
// independent validator (pb33f/libopenapi-validator, the 3.1 meta-schema).
func TestOpenAPI_documentValidates(t *testing.T) {
	doc, err := libopenapi.NewDocument(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Errorf("version %q", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	ok, verrs := v.ValidateDocument()
	for _, e := range verrs {
		t.Errorf("%s: %s", e.Message, e.Reason)
		for _, s := range e.SchemaValidationErrors {
			t.Errorf("  %s at %s", s.Reason, s.KeywordLocation)
		}
	}
	if !ok {
		t.Error("document invalid")
	}
	// The validator does see a broken document: a response without its description.
	var m map[string]any
	_ = json.Unmarshal(OpenAPI(), &m)
	post := m["paths"].(map[string]any)["/api/v1/messages"].(map[string]any)["post"].(map[string]any)
	delete(post["responses"].(map[string]any)["202"].(map[string]any), "description")
	broken, _ := json.Marshal(m)
	bdoc, err := libopenapi.NewDocument(broken)
	if err != nil {
		t.Fatal(err)
	}
	bv, _ := validator.NewValidator(bdoc)
	if ok, _ := bv.ValidateDocument(); ok {
		t.Error("a response without description passed the validator")
	}
}

func TestOpenAPI_served(t *testing.T) {
	db := storetest.Open(t, store.SQLite, Migrations()...)
	g, err := New(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	g.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/openapi.json", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != string(OpenAPI()) {
		t.Errorf("GET /api/v1/openapi.json: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}
