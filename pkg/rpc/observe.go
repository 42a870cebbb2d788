package rpc

import (
	"errors"
	"time"
)

// Observer is told about every call and cast a transport's clients send (trove's Prometheus metrics,
// pkg/metrics): kind "call" or "cast", the method, the outcome (Outcome) and how long it took, the reply
// included for a call.
type Observer interface {
	ObserveRPC(kind, method, outcome string, d time.Duration)
}

// SetObserver installs o for every client of t (nil removes it). Set it before clients send.
func (t *Transport) SetObserver(o Observer) {
	if o == nil {
		t.observer.Store(nil)
		return
	}
	t.observer.Store(&o)
}

func (t *Transport) observe(kind, method string, err error, start time.Time) {
	if o := t.observer.Load(); o != nil {
		(*o).ObserveRPC(kind, method, Outcome(err), time.Since(start))
	}
}

// Outcome names how a call or cast ended: ok, timeout (no reply in time), remote_error (the peer's handler
// failed) or error (not sent, not confirmed, or not decodable).
func Outcome(err error) string {
	var re *RemoteError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.As(err, &re):
		return "remote_error"
	}
	return "error"
}
