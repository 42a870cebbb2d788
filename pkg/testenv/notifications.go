package testenv

import (
	_ "embed"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

//go:embed notify_listener.py
var notifyListener []byte

// Notification is one notification as a Python oslo.messaging notification listener received it.
type Notification struct {
	Priority    string         `json:"priority"`
	PublisherID string         `json:"publisher_id"`
	EventType   string         `json:"event_type"`
	Payload     map[string]any `json:"payload"`
	Context     map[string]any `json:"context"`
}

// NotificationListener runs a real oslo.messaging notification listener (PythonOslo, Debian's
// python3-oslo.messaging) on topic of exchange at url until cleanup, and returns a function that reads what
// it received so far. Its queues (<topic>.info|warn|error) stay on the broker: delete them at cleanup.
func NotificationListener(t testing.TB, url, exchange, topic string) func() []Notification {
	t.Helper()
	dir := t.TempDir()
	script, out := filepath.Join(dir, "notify_listener.py"), filepath.Join(dir, "received.jsonl")
	if err := os.WriteFile(script, notifyListener, 0o600); err != nil {
		t.Fatal(err)
	}
	PythonPeer(t, script, url, exchange, topic, out)
	return func() []Notification {
		b, err := os.ReadFile(out)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		var got []Notification
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if line == "" {
				continue
			}
			var n Notification
			if err := json.Unmarshal([]byte(line), &n); err != nil {
				t.Fatalf("listener line %q: %v", line, err)
			}
			got = append(got, n)
		}
		return got
	}
}

// WaitNotification polls received until one notification satisfies match, or fails the test after timeout.
func WaitNotification(t testing.TB, received func() []Notification, timeout time.Duration, what string, match func(Notification) bool) Notification {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, n := range received() {
			if match(n) {
				return n
			}
		}
		if time.Now().After(deadline) {
			var types []string
			for _, n := range received() {
				types = append(types, n.EventType)
			}
			t.Fatalf("no %s notification within %s; received %v", what, timeout, types)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
