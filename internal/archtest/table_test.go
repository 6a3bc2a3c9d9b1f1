package archtest

// The layers of develop.md and ../shared/DESIGN.md, lowest first. Data flows down: a package may
// import packages of its own layer or of a lower one, never of a higher one. Test support stands
// outside the order: it may import any layer but entry, and only tests (_test.go files) and other
// test-support packages may import it.
type layer int

const (
	content     layer = iota + 1 // bytes in, typed values out; no network, no store
	protocol                     // SMTP/IMAP sessions, TLS policy, autoconfig; nothing of the application
	application                  // state and the MSSanté rules; tokens only in memory
	delivery                     // HTTP and servers; no MSSanté rule of their own
	entry                        // flags → config → wiring
	testSupport                  // helpers and peers of tests, benchmarks and test-only packages
)

func (l layer) String() string {
	switch l {
	case content:
		return "content"
	case protocol:
		return "protocol"
	case application:
		return "application"
	case delivery:
		return "delivery"
	case entry:
		return "entry"
	case testSupport:
		return "test support"
	}
	return "unknown layer"
}

// The third-party packages whose (non-test) importers are confined: an import counts as the
// longest of these it falls under, and only a package whose libs column names it may import it.
// go-smtp and go-sasl keep client and server in one package, so their server side cannot be told
// apart here; go-imap v2 splits them (imapclient, imapserver) and the common types.
const (
	goIMAP       = "github.com/emersion/go-imap/v2"
	goIMAPClient = "github.com/emersion/go-imap/v2/imapclient"
	goIMAPServer = "github.com/emersion/go-imap/v2/imapserver"
	goSMTP       = "github.com/emersion/go-smtp"
	goSASL       = "github.com/emersion/go-sasl"
	goMessage    = "github.com/emersion/go-message"
)

var confined = []string{goIMAP, goIMAPClient, goIMAPServer, goSMTP, goSASL, goMessage}

// Forbidden dependencies (import path prefixes, matched against the transitive non-test
// dependencies) shared by several rows.
var (
	// Content packages: bytes in, typed values out. message reads addresses and MIME headers with
	// net/mail and net/textproto (parsers, no I/O), hence no blanket "net" for it.
	contentNoDeps = []string{"net/http", "net/smtp", "net/rpc", "crypto/tls", "database/sql", module + "/internal"}
	// Document packages know nothing of the network at all.
	documentNoDeps = append([]string{"net"}, contentNoDeps...)
	// Protocol packages know nothing of the application: nothing under internal/ (test support
	// comes in through _test.go files only, which this does not see), no cmd, no store.
	protocolNoDeps = []string{module + "/internal", module + "/cmd", "database/sql"}
)

// row classifies one package of the module (path relative to the module) and carries its own
// allow-lists.
type row struct {
	path  string
	layer layer
	// libs: the confined third-party packages (see confined) this package may import.
	libs []string
	// noDeps: import path prefixes none of its transitive non-test dependencies may fall under.
	noDeps []string
	// noImports: exact import paths it must not import directly.
	noImports []string
	// importers: when not nil, the only module packages whose non-test code may import it.
	importers []string
}

// packages is the table: every package of `go list ./...` has exactly one row.
var packages = []row{
	// entry
	{path: "cmd/mssante", layer: entry},

	// delivery
	{path: "internal/server", layer: delivery},
	// A delivery room reads and composes mail through internal/mailbox (ParseStored, Compose),
	// never through the protocol or the mail rules directly; cda types stay for the rendering.
	{path: "internal/web", layer: delivery, noImports: []string{module + "/lps", module + "/message", module + "/xdm"}},
	{path: "internal/gateway", layer: delivery, noImports: []string{module + "/lps", module + "/message", module + "/xdm"}},
	{path: "internal/sandbox", layer: delivery},
	// The sandbox operator is the one place that runs IMAP and SMTP servers. It also parses the
	// submitted messages with go-message itself (server side); everything else goes through message.
	{path: "internal/sandbox/operator", layer: delivery, libs: []string{goIMAP, goIMAPServer, goSMTP, goSASL, goMessage}},
	// The Pro Santé Connect emulator is an HTTP server shipped in `mssante sandbox`, and a peer of
	// the tests of psc and server.
	{path: "internal/pscemu", layer: delivery},

	// application
	{path: "internal/psc", layer: application},
	{path: "internal/annuaire", layer: application},
	{path: "internal/annuaire/fhir", layer: application},
	{path: "internal/annuaire/ldapdir", layer: application},
	{path: "internal/patients", layer: application},
	{path: "internal/audit", layer: application},
	{path: "internal/store", layer: application},
	{path: "internal/mailbox", layer: application},
	// The intermediate server's API JSON and its thick client: internal/server writes it, cmd reads it.
	{path: "internal/serverapi", layer: application},
	{path: "internal/mailstore", layer: application},
	{path: "internal/outbox", layer: application},
	{path: "internal/doctor", layer: application},
	// The configuration is read by the entry and handed down as values.
	{path: "internal/config", layer: application, importers: []string{"cmd/mssante"}},

	// protocol
	{path: "lps", layer: protocol, libs: []string{goIMAP, goIMAPClient, goSMTP, goSASL},
		noDeps: append([]string{"net/http"}, protocolNoDeps...)}, // lps speaks SMTP and IMAP only
	{path: "trust", layer: protocol, noDeps: protocolNoDeps},
	{path: "autoconfig", layer: protocol, noDeps: protocolNoDeps},
	// MLLP framing and the send/ACK exchange with a record system; the messages come from hl7.
	{path: "hl7/mllp", layer: protocol, noDeps: append([]string{"net/http"}, protocolNoDeps...)},

	// content
	{path: "ins", layer: content, noDeps: documentNoDeps},
	{path: "cda", layer: content, noDeps: documentNoDeps},
	{path: "xdm", layer: content, noDeps: documentNoDeps},
	{path: "pdfa", layer: content, noDeps: documentNoDeps},
	// HL7 v2 MDM/ACK of the CI-SIS volet "Transmission LPS de documents CDA reçus par courriel
	// MSSanté": bytes in and out, no network (the transport is hl7/mllp).
	{path: "hl7", layer: content, noDeps: documentNoDeps},
	// net/mail and net/textproto pull in net for their types, but message never imports the
	// socket package itself.
	{path: "message", layer: content, libs: []string{goMessage}, noDeps: contentNoDeps, noImports: []string{"net"}},
	// Unicode folding for search keys; used by the application only.
	{path: "internal/fold", layer: content, noDeps: []string{"net", "database/sql"}},

	// test support
	{path: "internal/testkit", layer: testSupport},
	{path: "internal/testpki", layer: testSupport},
	{path: "internal/peertest", layer: testSupport},
	{path: "internal/pdfcheck", layer: testSupport},
	{path: "internal/archtest", layer: testSupport},
	{path: "internal/store/storetest", layer: testSupport},
	{path: "internal/psc/oidcinterop", layer: testSupport}, // tests only: the PSC client against Ory Hydra
	{path: "internal/annuaire/gen", layer: testSupport},    // synthetic extraction files
	{path: "bench/annuairebench", layer: testSupport},      // benchmark harness, not shipped
	{path: "bench/transportbench", layer: testSupport},     // benchmark harness, not shipped
	{path: "spec", layer: testSupport},                     // tests only: the requirement index
}

// planned names rows whose package is being written on another branch and may not exist yet. The
// lead deletes each line when that branch is merged (a planned package that exists is reported).
var planned = map[string]bool{}
