package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// RemoteError is a failure raised by the remote endpoint, with oslo.messaging's class and module names so the
// kind survives the wire in both directions. Handlers return one (see Errorf) to choose the class a Python
// caller sees; Call returns one for every failure reply.
type RemoteError struct {
	Class   string // e.g. "NotFound", "NoSuchMethod", "ValueError"
	Module  string // e.g. "trove.common.exception", "oslo_messaging.rpc.dispatcher", "builtins"
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("remote error %s.%s: %s", e.Module, e.Class, e.Message)
}

// Is matches another *RemoteError with the same Class and Module (Message ignored), so
// errors.Is(err, &rpc.RemoteError{Class: "NoSuchMethod", Module: rpc.ModuleDispatcher}) works.
func (e *RemoteError) Is(target error) bool {
	t, ok := target.(*RemoteError)
	return ok && t.Class == e.Class && (t.Module == "" || t.Module == e.Module)
}

// Module names used in failures.
const (
	ModuleTrove      = "trove.common.exception"
	ModuleBuiltins   = "builtins"
	ModuleDispatcher = "oslo_messaging.rpc.dispatcher"
	ModuleMessaging  = "oslo_messaging.exceptions"
)

// Errorf returns a *RemoteError of the given oslo class. class may be qualified ("builtins.ValueError");
// an unqualified class is taken from trove.common.exception.
func Errorf(class, format string, a ...any) *RemoteError {
	module := ModuleTrove
	if i := strings.LastIndex(class, "."); i >= 0 {
		module, class = class[:i], class[i+1:]
	}
	return &RemoteError{Class: class, Module: module, Message: fmt.Sprintf(format, a...)}
}

// ErrTimeout is the kind of a call that got no reply in time (oslo's MessagingTimeout): errors.Is(err, ErrTimeout).
var ErrTimeout = &RemoteError{Class: "MessagingTimeout", Module: ModuleMessaging}

// Kind returns the oslo class name of err ("" when err is not an RPC failure).
func Kind(err error) string {
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Class
	}
	return ""
}

// failure is oslo's serialize_remote_exception payload.
type failure struct {
	Class   string            `json:"class"`
	Module  string            `json:"module"`
	Message string            `json:"message"`
	TB      []string          `json:"tb"`
	Args    []string          `json:"args"`
	Kwargs  map[string]string `json:"kwargs"`
}

// encodeFailure turns a handler error into the JSON string oslo puts in "failure".
func encodeFailure(err error) string {
	var re *RemoteError
	if !errors.As(err, &re) {
		re = &RemoteError{Class: "Exception", Module: ModuleBuiltins, Message: err.Error()}
	}
	b, _ := json.Marshal(failure{Class: re.Class, Module: re.Module, Message: re.Message, TB: []string{},
		Args: []string{re.Message}, Kwargs: map[string]string{}})
	return string(b)
}

func decodeFailure(s string) *RemoteError {
	var f failure
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		return &RemoteError{Class: "RemoteError", Module: ModuleMessaging, Message: s}
	}
	f.Class = strings.TrimSuffix(f.Class, "_Remote")
	f.Module = strings.TrimSuffix(f.Module, "_Remote")
	return &RemoteError{Class: f.Class, Module: f.Module, Message: f.Message}
}

// RejectError is a message refused by a codec for a security reason (plaintext from a keyed peer, bad
// ciphertext, replay, ...). The server logs it, counts it under Reason and drops the message.
type RejectError struct {
	Reason string
	Err    error
	// InstanceID is the instance the message claimed to come from (conductor side), "" when unknown.
	InstanceID string
}

func (e *RejectError) Error() string {
	return "rpc: message rejected (" + e.Reason + "): " + e.Err.Error()
}
func (e *RejectError) Unwrap() error { return e.Err }

func reject(reason, format string, a ...any) error {
	return &RejectError{Reason: reason, Err: fmt.Errorf(format, a...)}
}

// Rejection reasons counted by RejectCounts.
const (
	RejectPlaintext = "plaintext_from_keyed_peer"
	RejectDecrypt   = "undecryptable"
	RejectFormat    = "envelope_mismatch"
	RejectReplay    = "replay"
	RejectStale     = "stale_timestamp"
	RejectIdentity  = "instance_mismatch"
	RejectUnknown   = "unknown_instance"
	RejectMalformed = "malformed"
)
