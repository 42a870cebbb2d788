package conductor

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/testenv"
)

// logLines returns the JSON log lines in b whose msg is msg.
func logLines(b *testenv.Buffer, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// line waits for a logged line with msg whose fields include want, and returns it.
func (e *env) line(t *testing.T, msg string, want map[string]any) map[string]any {
	t.Helper()
	var found map[string]any
	e.settle(t, func() bool {
		for _, l := range logLines(e.logs, msg) {
			match := true
			for k, v := range want {
				match = match && l[k] == v
			}
			if match {
				found = l
				return true
			}
		}
		return false
	})
	return found
}

// What an operator reads in trove-conductor's log: one line when a peer is first seen or changes envelope, one
// periodic count of applied heartbeats per envelope (none for a quiet interval), and every refusal naming the
// instance the message claimed.
func TestOperatorLogLines(t *testing.T) {
	e := setup(t)
	t0 := time.Now()
	plain, trove, aead := e.threePeers(t)
	probe := e.instance(t, "", "")

	for i, p := range []struct {
		id, key string
		env     rpc.Envelope
		kind    string
	}{{plain, "", rpc.EnvelopeNone, "plain"}, {trove, keyA, rpc.EnvelopeTrove, "trove"}, {aead, keyB, rpc.EnvelopeAEAD, "aead"}} {
		heartbeat(t, e.sender(p.id, p.key, p.env), p.id, "healthy", t0)
		heartbeat(t, e.sender(p.id, p.key, p.env), p.id, "healthy", t0.Add(time.Second))
		e.processed(t, probe, i+1)
		e.line(t, "RPC peer first seen", map[string]any{"instance_id": p.id, "envelope": p.kind})
	}
	// Once per peer, not per message.
	for _, id := range []string{plain, trove, aead, probe} {
		n := 0
		for _, l := range logLines(e.logs, "RPC peer first seen") {
			if l["instance_id"] == id {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d first-seen lines for %s", n, id)
		}
	}

	// The periodic count: 2 heartbeats per instance above, plus 3 plaintext probes.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go e.c.LogHeartbeats(ctx, 300*time.Millisecond)
	e.line(t, "heartbeats accepted", map[string]any{"heartbeats_plain": 5.0, "heartbeats_trove": 2.0, "heartbeats_aead": 2.0})
	time.Sleep(time.Second) // quiet intervals log nothing
	if n := len(logLines(e.logs, "heartbeats accepted")); n != 1 {
		t.Errorf("%d heartbeat count lines, want 1", n)
	}

	// The trove instance upgraded to our guest: its envelope changes.
	if _, err := e.db.SetPeerEnvelope(ctx, trove, catalog.EnvelopeAEAD); err != nil {
		t.Fatal(err)
	}
	heartbeat(t, e.sender(trove, keyA, rpc.EnvelopeAEAD), trove, "healthy", t0.Add(2*time.Second))
	e.line(t, "RPC peer changed envelope", map[string]any{"instance_id": trove, "envelope": "aead", "previous_envelope": "trove"})

	// Refusals name the instance they claimed.
	other := e.instance(t, keyA, "")
	unknown := "5f1f1d0e-0000-4000-8000-000000000000"
	for _, r := range []struct {
		name   string
		c      *rpc.Client
		id     string
		reason string
	}{
		{"wrong key", e.sender(other, keyB, rpc.EnvelopeTrove), other, rpc.RejectDecrypt},
		{"plaintext naming a keyed instance", e.sender(other, "", rpc.EnvelopeNone), other, rpc.RejectPlaintext},
		{"envelope other than recorded", e.sender(aead, keyB, rpc.EnvelopeTrove), aead, rpc.RejectFormat},
		{"aead under the wrong key", e.sender(aead, keyA, rpc.EnvelopeAEAD), aead, rpc.RejectDecrypt},
		{"unknown instance", e.sender(unknown, keyA, rpc.EnvelopeTrove), unknown, rpc.RejectUnknown},
	} {
		t.Run(r.name, func(t *testing.T) {
			heartbeat(t, r.c, r.id, "shutdown", t0.Add(time.Hour))
			e.line(t, "rejected RPC message", map[string]any{"instance_id": r.id, "reason": r.reason})
		})
	}
	// A forged heartbeat about another instance names the sender.
	heartbeat(t, e.sender(other, keyA, rpc.EnvelopeTrove), plain, "shutdown", t0.Add(time.Hour))
	e.line(t, "rejected RPC message", map[string]any{"instance_id": other, "reason": rpc.RejectIdentity})
}
