package fhir

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/mssante/mssante/internal/annuaire"
)

// variantBundle is a page written in the other forms the API and its IG versions use: absolute
// and versioned references, the v1 URL of the exercise name extension (practitionerRole-name,
// camel case, no as-ext- prefix), the http:// form of the metadata URL, a resource-level
// MailboxMSS extension (first API version), a role without type, an organisation without address.
const variantBundle = `{"resourceType":"Bundle","type":"searchset","entry":[
 {"resource":{"resourceType":"Practitioner","id":"003-7","name":[{"family":"CIVIL","given":["Anne"]}],
   "identifier":[{"system":"urn:oid:1.2.250.1.71.4.2.1","value":"810000000007"}]},"search":{"mode":"match"}},
 {"resource":{"resourceType":"PractitionerRole","id":"005-7",
   "practitioner":{"reference":"{{BASE}}/Practitioner/003-7"},
   "organization":{"reference":"Organization/001-2/_history/4"},
   "extension":[{"url":"https://apifhir.annuaire.sante.fr/ws-sync/exposed/structuredefinition/practitionerRole-name",
     "valueHumanName":{"family":"D'ARC-EXERCICE","given":["Anne"],"prefix":["DR"]}}],
   "telecom":[{"system":"email","value":"anne.darc@medecin.mssante.fr","extension":[
     {"url":"http://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-mailbox-mss-metadata",
      "extension":[{"url":"digitization","valueBoolean":true}]}]}]},"search":{"mode":"include"}},
 {"resource":{"resourceType":"Organization","id":"001-9","name":"LABORATOIRE ANCIEN",
   "extension":[{"url":"https://annuaire.sante.gouv.fr/fhir/StructureDefinition/MailboxMSS","extension":[
     {"url":"value","valueString":"labo.ancien@labo.mssante.fr"},
     {"url":"type","valueCodeableConcept":{"coding":[{"code":"ORG"}]}},
     {"url":"service","valueString":"Biologie"}]}]},"search":{"mode":"match"}}
]}`

// ECO.3.1.4: a search against pages in these forms resolves the practitioner and organisation
// behind a role, fetches the organisation by its bare id, and finds the legacy mailbox.
func TestSearch_referenceAndExtensionVariants(t *testing.T) {
	var mu sync.Mutex
	var orgQueries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		base := "http://" + r.Host + "/fhir/v2"
		switch {
		case strings.HasSuffix(r.URL.Path, "/Organization") && r.URL.Query().Get("_id") != "":
			mu.Lock()
			orgQueries = append(orgQueries, r.URL.Query().Get("_id"))
			mu.Unlock()
			_, _ = w.Write([]byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Organization","id":"001-2",
				"name":"CLINIQUE DU GOLFE","address":[{"city":"AJACCIO","postalCode":"20090"}]}}]}`))
		case strings.HasSuffix(r.URL.Path, "/Practitioner"):
			_, _ = w.Write([]byte(strings.ReplaceAll(variantBundle, "{{BASE}}", base)))
		default:
			_, _ = w.Write([]byte(`{"resourceType":"Bundle","entry":[]}`))
		}
	}))
	defer srv.Close()
	c := New(Options{BaseURL: srv.URL + "/fhir/v2", APIKey: "k"})
	got, err := c.Search(context.Background(), annuaire.Query{Text: "arc", Type: annuaire.TypePER})
	if err != nil || len(got) != 1 {
		t.Fatalf("Search = %+v, %v", got, err)
	}
	e := got[0]
	if e.LastName != "D'ARC-EXERCICE" || e.Civility != "DR" || e.NationalID != "810000000007" ||
		e.Organization != "CLINIQUE DU GOLFE" || e.Department != "2A" || e.Type != annuaire.TypePER {
		t.Errorf("entry = %+v", e)
	}
	if len(orgQueries) != 1 || orgQueries[0] != "001-2" {
		t.Errorf("Organization?_id= queries %q, want [001-2]", orgQueries)
	}

	var b bundle
	if err := json.Unmarshal([]byte(strings.ReplaceAll(variantBundle, "{{BASE}}", "https://x/fhir/v2")), &b); err != nil {
		t.Fatal(err)
	}
	var legacy *annuaire.Entry
	for _, e := range b.entries() {
		if e.Address == "labo.ancien@labo.mssante.fr" {
			legacy = &e
		}
	}
	if legacy == nil || legacy.Type != annuaire.TypeORG || legacy.Service != "Biologie" || legacy.Organization != "LABORATOIRE ANCIEN" {
		t.Errorf("legacy MailboxMSS entry = %+v", legacy)
	}
}

func TestRefKey(t *testing.T) {
	for in, want := range map[string]string{
		"Organization/1":                              "Organization/1",
		"https://h/fhir/v2/Practitioner/003-1":        "Practitioner/003-1",
		"Organization/001-2/_history/4":               "Organization/001-2",
		"https://h/fhir/v2/Organization/9/_history/1": "Organization/9",
	} {
		if got := refKey(in); got != want {
			t.Errorf("refKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// A next link written in http by a gateway that ends TLS is followed in https on the same host;
// another host is still refused (the API key stays on the base host).
func TestNextPage_httpLinkOnSameHostKeepsTLS(t *testing.T) {
	c := New(Options{BaseURL: "https://gateway.example/fhir/v2"})
	cur := c.base.JoinPath("Practitioner")
	for link, want := range map[string]string{
		"http://gateway.example/fhir/v2?_getpages=a&_getpagesoffset=50":  "https://gateway.example/fhir/v2?_getpages=a&_getpagesoffset=50",
		"https://gateway.example/fhir/v2?_getpages=a&_getpagesoffset=50": "https://gateway.example/fhir/v2?_getpages=a&_getpagesoffset=50",
		"http://internal:8080/fhir/v2?_getpages=a":                       "",
	} {
		u, err := c.nextPage(&bundle{Link: []bundleLink{{Relation: "next", URL: link}}}, cur)
		switch {
		case want == "" && err == nil:
			t.Errorf("next %s: followed to %v, want refused", link, u)
		case want != "" && (err != nil || u.String() != want):
			t.Errorf("next %s: %v, %v; want %s", link, u, err, want)
		}
	}
}

// "dupond ajaccio": the longest word (a city) finds no name on the server, the next one does.
func TestSearch_nextWordWhenLongestFindsNothing(t *testing.T) {
	var names []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		if strings.HasSuffix(r.URL.Path, "/Practitioner") {
			mu.Lock()
			names = append(names, r.URL.Query().Get("name"))
			mu.Unlock()
			if r.URL.Query().Get("name") == "dupond" {
				_, _ = w.Write([]byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Practitioner","id":"1",
					"name":[{"family":"DUPOND"}],"telecom":[{"system":"email","value":"dupond@medecin.mssante.fr",
					"extension":[{"url":"https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-contact-point-email-type",
					"valueCoding":{"code":"MSSANTE"}}]}]}}]}`))
				return
			}
		}
		_, _ = w.Write([]byte(`{"resourceType":"Bundle","entry":[]}`))
	}))
	defer srv.Close()
	c := New(Options{BaseURL: srv.URL, APIKey: "k"})
	got, err := c.Search(context.Background(), annuaire.Query{Text: "dupond ajaccio", Type: annuaire.TypePER})
	// The entry has no city: the local filter wants every word, so nothing matches "ajaccio".
	if err != nil || len(got) != 0 {
		t.Fatalf("Search = %+v, %v", got, err)
	}
	if want := []string{"ajaccio", "dupond"}; strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("names searched %q, want %q", names, want)
	}
	names = nil
	got, err = c.Search(context.Background(), annuaire.Query{Text: "dupond", Type: annuaire.TypePER})
	if err != nil || len(got) != 1 || got[0].Address != "dupond@medecin.mssante.fr" {
		t.Errorf("Search(dupond) = %+v, %v", got, err)
	}
}
