package conductor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/conductorapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// A heartbeat carrying our guests' health records it (replication lag included); a later one replaces it; a
// heartbeat without health (Trove's guests) records none; a spoofed sender's health is never recorded.
func TestHeartbeatHealth(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	id, other := e.instance(t, keyB, catalog.EnvelopeAEAD), e.instance(t, "", "")
	c := e.sender(id, keyB, rpc.EnvelopeAEAD)
	send := func(about string, h *conductorapi.Health, sent time.Time) {
		t.Helper()
		a := conductorapi.HeartbeatArgs{InstanceID: about, Payload: conductorapi.HeartbeatPayload{ServiceStatus: "healthy", Health: h},
			Sent: conductorapi.Sent(sent)}
		if err := c.Cast(ctx, rpc.Context{RequestID: "req-test"}, conductorapi.MethodHeartbeat, a); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now()
	lag := 2.5
	send(id, &conductorapi.Health{Up: true, Connections: 4, ReplicationLag: &lag}, t0)
	e.settle(t, func() bool { h, err := e.db.GetHealth(ctx, id); return err == nil && h.Connections == 4 })
	h, _ := e.db.GetHealth(ctx, id)
	if !h.Up || h.ReplicationLag == nil || *h.ReplicationLag != 2.5 {
		t.Fatalf("recorded health %+v", h)
	}
	send(id, &conductorapi.Health{Up: false, Connections: 0}, t0.Add(time.Second))
	e.settle(t, func() bool { h, err := e.db.GetHealth(ctx, id); return err == nil && !h.Up })
	if h, _ := e.db.GetHealth(ctx, id); h.ReplicationLag != nil || h.Connections != 0 {
		t.Fatalf("replaced health %+v", h)
	}
	// Without health (a Python guest): the status applies, no health row.
	plain := e.sender(other, "", rpc.EnvelopeNone)
	heartbeat(t, plain, other, "running", t0)
	e.settle(t, func() bool { return e.status(t, other).Description == "running" })
	if _, err := e.db.GetHealth(ctx, other); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("health of a guest that sent none: %v", err)
	}
	// Another instance's heartbeat with health from this sender is refused: nothing recorded for it.
	handled := e.srv.Handled()
	send(other, &conductorapi.Health{Up: true, Connections: 99}, t0.Add(2*time.Second))
	e.settle(t, func() bool { return e.srv.Handled() > handled || rejects(rpc.RejectIdentity) > 0 })
	time.Sleep(200 * time.Millisecond)
	if _, err := e.db.GetHealth(ctx, other); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("a spoofed heartbeat's health was recorded: %v", err)
	}
}
