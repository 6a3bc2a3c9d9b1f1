package fhir

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Errors a caller can branch on (through errors.Is on an *Error or a wrapped error).
var (
	// ErrRateLimited: the API answered 429 more often, or for longer, than the client waits; try
	// again later.
	ErrRateLimited = errors.New("fhir: rate limited")
	// ErrUnauthorized: the API key is missing, wrong or not allowed (401, 403); fix the configuration.
	ErrUnauthorized = errors.New("fhir: API key refused")
	// ErrMalformed: the answer is not the FHIR JSON expected; nothing to retry.
	ErrMalformed = errors.New("fhir: malformed answer")
)

// Issue is one OperationOutcome.issue.
type Issue struct {
	Severity    string `json:"severity"` // fatal, error, warning, information
	Code        string `json:"code"`     // FHIR issue type: invalid, not-supported, throttled…
	Diagnostics string `json:"diagnostics,omitempty"`
}

// Error is an error answer of the API, with the OperationOutcome issues when it sent some.
type Error struct {
	StatusCode int
	// Path is the resource path asked ("/fhir/v2/Practitioner"); the query is left out.
	Path   string
	Issues []Issue
}

func newError(status int, u *url.URL, b *bundle, jsonErr error) *Error {
	e := &Error{StatusCode: status, Path: u.Path}
	if jsonErr == nil && b.ResourceType == "OperationOutcome" {
		e.Issues = b.Issue
	}
	return e
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fhir: %s: HTTP %d %s", e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	for _, is := range e.Issues {
		fmt.Fprintf(&b, "; %s %s", is.Severity, is.Code)
		if is.Diagnostics != "" {
			fmt.Fprintf(&b, ": %s", is.Diagnostics)
		}
	}
	return b.String()
}

// Unwrap maps the status to ErrRateLimited, ErrUnauthorized or nil.
func (e *Error) Unwrap() error {
	switch e.StatusCode {
	case http.StatusTooManyRequests:
		return ErrRateLimited
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrUnauthorized
	}
	return nil
}
