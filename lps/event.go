package lps

import (
	"context"
	"time"
)

// Event is one operation against the operator's server, handed to Options.Recorder for the audit
// trail (ECO.4.1.1). Request and Response are redacted: no AUTH payload, no token, no message body.
// This type is a stable contract with internal/audit.
type Event struct {
	Time     time.Time // when the operation ended (Options.Now)
	Account  string    // mailbox address the session authenticates as
	Action   string    // "connect", "auth", "send", "list", "fetch", "flag", "move", "delete", "append", "idle"
	Request  string    // what was asked of the server, redacted ("UID FETCH 12 BODY.PEEK[]", "MAIL FROM:<a@b>")
	Response string    // the server's answer, or a summary of it ("OK", "250 2.0.0 Ok: queued as 4F2")
	Err      error     // nil on success
}

// Recorder receives events. Implementations must be safe for concurrent use and must not block
// for long: they are called inline after each operation.
type Recorder interface {
	Record(ctx context.Context, ev Event)
}

// RecorderFunc adapts a function to Recorder.
type RecorderFunc func(ctx context.Context, ev Event)

// Record calls f(ctx, ev).
func (f RecorderFunc) Record(ctx context.Context, ev Event) { f(ctx, ev) }

// Event actions.
const (
	ActionConnect = "connect"
	ActionAuth    = "auth"
	ActionSend    = "send"
	ActionList    = "list"
	ActionFetch   = "fetch"
	ActionFlag    = "flag"
	ActionMove    = "move"
	ActionDelete  = "delete"
	ActionAppend  = "append"
	ActionIdle    = "idle"
)
