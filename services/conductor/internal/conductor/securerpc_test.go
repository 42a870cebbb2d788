package conductor

import (
	"context"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/rpc/rpctest"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/testenv"
)

// processed waits until every message sent before it has been handled: the server runs one handler at a time,
// so once the probe's heartbeat is applied, earlier messages are done.
func (e *env) processed(t *testing.T, probe string, n int) {
	t.Helper()
	mark := []status.ServiceStatus{status.Running, status.Shutdown}[n%2]
	heartbeat(t, e.sender(probe, "", rpc.EnvelopeNone), probe, mark.Description, time.Now().Add(time.Duration(n)*time.Second))
	e.settle(t, func() bool { return e.status(t, probe) == mark })
}

// A captured heartbeat replayed on the broker (exactly, or with a fresh _unique_id as an attacker would)
// changes nothing: the AEAD envelope refuses the seen nonce (counted as replay), the trove envelope's replay
// is older than the last heartbeat and dropped by the sent check.
func TestReplayedHeartbeatRejected(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const key = "Q7dX2mLp9RtZ4vKc8NwB1sYh6JfE3gUa"
	probe := e.instance(t, "", "")
	tap, err := rpctest.NewTap(testenv.TransportURL(t), e.tr.Exchange(), e.topic)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	n := 0
	for _, tc := range []struct {
		name, envelope string
		env            rpc.Envelope
		counted        string // reject reason counted for the fresh-id replay ("" = dropped by the sent check)
	}{
		{"aead", catalog.EnvelopeAEAD, rpc.EnvelopeAEAD, rpc.RejectReplay},
		{"trove", catalog.EnvelopeTrove, rpc.EnvelopeTrove, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := e.instance(t, key, tc.envelope)
			guest := e.sender(id, key, tc.env)
			t0 := time.Now()
			heartbeat(t, guest, id, "shutdown", t0)
			tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			var captured rpctest.TappedMessage
			for captured.Method() != "heartbeat" {
				if captured, err = tap.Next(tctx); err != nil {
					t.Fatal(err)
				}
			}
			if captured.Plaintext() {
				t.Fatalf("heartbeat readable on the broker: %s", captured.Body)
			}
			heartbeat(t, guest, id, "healthy", t0.Add(time.Second))
			e.settle(t, func() bool { return e.status(t, id) == status.Healthy })

			before := rejects(rpc.RejectReplay)
			fresh, err := rpctest.WithFreshUniqueID(captured.Body)
			if err != nil {
				t.Fatal(err)
			}
			for _, body := range [][]byte{captured.Body, fresh} {
				if err := tap.Publish(ctx, e.topic, body); err != nil {
					t.Fatal(err)
				}
			}
			n++
			e.processed(t, probe, n)
			if got := e.status(t, id); got != status.Healthy {
				t.Fatalf("replayed shutdown heartbeat applied: status %q", got.Description)
			}
			if tc.counted != "" && rejects(tc.counted) <= before {
				t.Fatalf("replay not counted as %s", tc.counted)
			}
		})
	}
}

// During a rotation the conductor accepts the previous key until previous_valid_until, then refuses it.
func TestRotationOverlapInConductor(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const oldKey, newKey = "OLDkey0123456789OLDkey0123456789", "NEWkey0123456789NEWkey0123456789"
	id := e.instance(t, oldKey, catalog.EnvelopeAEAD)
	probe := e.instance(t, "", "")
	wrap := func(k string) string {
		w, err := keyring.Wrap(wrapKey, k)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	setKeys := func(until time.Time) {
		if err := e.db.SetInstanceKey(ctx, catalog.KeyChange{InstanceID: id, EncryptedKey: wrap(newKey), Envelope: catalog.EnvelopeAEAD,
			PreviousEncryptedKey: wrap(oldKey), PreviousValidUntil: &until}); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now()
	setKeys(t0.Add(time.Hour))
	steps := []struct {
		name   string
		key    string
		status string
		want   status.ServiceStatus
		expire bool // move previous_valid_until into the past first
	}{
		{"old key during the overlap", oldKey, "running", status.Running, false},
		{"new key", newKey, "healthy", status.Healthy, false},
		{"old key after the overlap", oldKey, "shutdown", status.Healthy, true},
		{"new key after the overlap", newKey, "running", status.Running, false},
	}
	for i, s := range steps {
		if s.expire {
			setKeys(t0.Add(-time.Minute))
		}
		before := rejects(rpc.RejectDecrypt)
		heartbeat(t, e.sender(id, s.key, rpc.EnvelopeAEAD), id, s.status, t0.Add(time.Duration(i+1)*time.Second))
		e.processed(t, probe, i)
		if got := e.status(t, id); got != s.want {
			t.Fatalf("%s: status %q, want %q", s.name, got.Description, s.want.Description)
		}
		if s.expire && rejects(rpc.RejectDecrypt) <= before {
			t.Fatalf("%s: not counted as undecryptable", s.name)
		}
	}
}
