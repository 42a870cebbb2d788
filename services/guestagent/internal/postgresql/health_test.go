package postgresql

import (
	"context"
	"testing"
)

// Health on a real server: up, the client backends counted (the health query's own among them), no lag on a
// server that is no standby; a stopped server does not answer.
func TestHealth(t *testing.T) {
	m, _ := start(t)
	ctx := context.Background()
	h, err := m.Health(ctx)
	if err != nil || !h.Up || h.Connections < 1 || h.ReplicationLag != nil {
		t.Fatalf("health %+v %v", h, err)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if h, err := m.Health(ctx); err == nil {
		t.Fatalf("a stopped server reported health %+v", h)
	}
}
