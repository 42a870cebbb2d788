// Package fault is trove-api's error vocabulary: errors that carry the HTTP status and Trove fault name they
// render as ({"badRequest": {"code": 400, "message": "..."}}), so helpers return errors and a handler renders
// once. Anything that is not a *fault.Error renders as Trove's 500 instanceFault with a request id, and the real
// error goes only to the log.
package fault

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/trove-go/trove/pkg/redact"
)

// Error is an API error with Trove's wire shape.
type Error struct {
	Status  int
	Name    string // fault key, e.g. "badRequest"
	Message string
	// Details is rendered only when non-empty (rate limiting uses it).
	Details    string
	RetryAfter string
	// Cause is logged, never rendered.
	Cause error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %s (%v)", e.Status, e.Name, e.Message, e.Cause)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Name, e.Message)
}

func (e *Error) Unwrap() error { return e.Cause }

// names maps a status to Trove's fault name (api.md §1.5).
var names = map[int]string{
	400: "badRequest",
	401: "unauthorized",
	403: "forbidden",
	404: "itemNotFound",
	405: "badMethod",
	406: "notAcceptable",
	409: "conflict",
	413: "overLimit",
	415: "badMediaType",
	422: "unprocessableEntity",
	500: "instanceFault",
	501: "notImplemented",
	503: "serviceUnavailable",
}

// New returns a fault with the standard name for status.
func New(status int, format string, args ...any) *Error {
	name, ok := names[status]
	if !ok {
		name = "serverError"
	}
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Status: status, Name: name, Message: msg}
}

// BadRequest is Trove's default for every exception class without a mapping (400).
func BadRequest(format string, args ...any) *Error {
	return New(http.StatusBadRequest, format, args...)
}

// NotFound is Trove's NotFound ("Resource %(uuid)s cannot be found.", 404); a long id is cut.
func NotFound(id string) *Error {
	return New(http.StatusNotFound, "Resource %s cannot be found.", redact.Trunc(id, redact.Echo))
}

// Forbidden is the 403 of a policy refusal or tenant mismatch.
func Forbidden(format string, args ...any) *Error { return New(http.StatusForbidden, format, args...) }

// NotAdmin is Trove's exception.Forbidden used by the mgmt routes, which maps to 401.
func NotAdmin() *Error {
	return New(http.StatusUnauthorized, "User does not have admin privileges.")
}

// Unprocessable is 422 UnprocessableEntity.
func Unprocessable(format string, args ...any) *Error { return New(422, format, args...) }

// OverLimit is 413 (QuotaExceeded, VolumeQuotaExceeded, oversized bodies).
func OverLimit(format string, args ...any) *Error { return New(413, format, args...) }

// NotImplemented is 501.
func NotImplemented(format string, args ...any) *Error { return New(501, format, args...) }

// Unavailable is 503.
func Unavailable(format string, args ...any) *Error { return New(503, format, args...) }

// As returns the *Error in err's chain, or nil.
func As(err error) *Error {
	var f *Error
	if errors.As(err, &f) {
		return f
	}
	return nil
}

// Internal returns Trove's 500 body for an unexpected error; the id lets an operator find the log line.
func Internal(requestID string, cause error) *Error {
	e := New(500, "Internal Server Error. Please keep this ID to help us figure out what went wrong: (%s).", requestID)
	e.Cause = cause
	return e
}

// MaxMessage bounds the message of a fault body and of its log line (characters): no request makes either grow
// with its input (echoed values are cut where they are put in a message; this is the last stop).
const MaxMessage = 1024

// Bounded is the message cut to MaxMessage.
func (e *Error) Bounded() string { return redact.Trunc(e.Message, MaxMessage) }

type body struct {
	Code       int    `json:"code"`
	Message    string `json:"message"`
	Details    string `json:"details,omitempty"`
	RetryAfter string `json:"retryAfter,omitempty"`
}

// Write renders the fault. A non-fault error must be converted with Internal first.
func Write(w http.ResponseWriter, e *Error) {
	b, err := json.Marshal(map[string]body{e.Name: {Code: e.Status, Message: e.Bounded(), Details: e.Details, RetryAfter: e.RetryAfter}})
	if err != nil { // cannot happen for strings and ints
		b = []byte(`{"instanceFault": {"code": 500, "message": "Internal Server Error."}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if e.RetryAfter != "" {
		h.Set("Retry-After", e.RetryAfter)
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}
