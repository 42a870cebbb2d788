package catalog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/status"
)

func f(v float64) *float64 { return &v }

// Heartbeats apply the conductor's rules in order: stale or duplicate messages are dropped, RESTART_REQUIRED
// ignores heartbeats, unknown text changes nothing, and every accepted heartbeat refreshes updated_at.
func TestHeartbeatOrdering(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	clk := withClock(d)
	_, v := seedDatastore(t, d)
	in := create(t, d, v.ID, "db1")
	steps := []struct {
		name     string
		desc     string
		sent     *float64
		accepted bool
		want     status.ServiceStatus
		bumped   bool // updated_at moved to the step's time
		kind     error
	}{
		{"first", "building", f(100.5), true, status.Building, true, nil},
		{"newer", "healthy", f(101.000001), true, status.Healthy, true, nil},
		{"duplicate", "shutdown", f(101.000001), false, status.Healthy, false, nil},
		{"older", "crashed", f(99), false, status.Healthy, false, nil},
		{"no sent: accepted", "running", nil, true, status.Running, true, nil},
		{"no status text: liveness only", "", f(102), true, status.Running, true, nil},
		{"unknown text", "exploded", f(103), false, status.Running, false, catalog.ErrBadRequest},
		{"after unknown", "healthy", f(103), true, status.Healthy, true, nil},
	}
	last := clk.t
	for _, s := range steps {
		clk.advance(time.Second)
		ok, err := d.Heartbeat(ctx, in.ID, s.desc, s.sent)
		if s.kind != nil {
			assertKind(t, err, s.kind)
		} else if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if ok != s.accepted {
			t.Fatalf("%s: accepted = %v", s.name, ok)
		}
		st, err := d.GetServiceStatus(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status() != s.want || st.StatusDescription != s.want.Description {
			t.Fatalf("%s: status %+v, want %s", s.name, st, s.want.Description)
		}
		if s.bumped {
			last = clk.t
		}
		if !st.UpdatedAt.Equal(last) {
			t.Fatalf("%s: updated_at %v, want %v", s.name, st.UpdatedAt, last)
		}
	}
	var lastSeen float64
	if err := d.Sqlx().Get(&lastSeen, "SELECT sent FROM conductor_lastseen WHERE instance_id = ? AND method_name = 'heartbeat'", in.ID); err != nil || lastSeen != 103 {
		t.Fatalf("lastseen %v %v", lastSeen, err)
	}

	// RESTART_REQUIRED: heartbeats are ignored and do not refresh liveness.
	if err := d.SetServiceStatus(ctx, in.ID, status.RestartRequired); err != nil {
		t.Fatal(err)
	}
	forced := clk.t
	clk.advance(time.Minute)
	ok, err := d.Heartbeat(ctx, in.ID, "healthy", f(200))
	if err != nil || ok {
		t.Fatalf("heartbeat on restart required: %v %v", ok, err)
	}
	st, _ := d.GetServiceStatus(ctx, in.ID)
	if st.Status() != status.RestartRequired || !st.UpdatedAt.Equal(forced) {
		t.Fatalf("restart required overwritten: %+v", st)
	}
	_, err = d.Heartbeat(ctx, "missing", "healthy", nil)
	assertKind(t, err, catalog.ErrNotFound)

	fresh, err := d.MessageIsFresh(ctx, in.ID, "update_backup", 5)
	if err != nil || !fresh {
		t.Fatal(fresh, err)
	}
	if fresh, _ := d.MessageIsFresh(ctx, in.ID, "update_backup", 4); fresh {
		t.Fatal("older update_backup accepted")
	}
}

// Concurrent heartbeats of one instance: whatever the interleaving, the newest sent wins.
func TestHeartbeatConcurrent(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	_, v := seedDatastore(t, d)
	in := create(t, d, v.ID, "db1")
	done := make(chan error)
	descs := []string{"running", "healthy", "shutdown", "crashed", "blocked", "building", "paused", "unknown"}
	for i, desc := range descs {
		go func() {
			_, err := d.Heartbeat(ctx, in.ID, desc, f(float64(1000+i)))
			done <- err
		}()
	}
	for range descs {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	st, _ := d.GetServiceStatus(ctx, in.ID)
	if st.StatusDescription != descs[len(descs)-1] {
		t.Fatalf("final status %q, want %q (highest sent)", st.StatusDescription, descs[len(descs)-1])
	}
}

func TestSetServiceStatusAndAge(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	clk := withClock(d)
	_, v := seedDatastore(t, d)
	in := create(t, d, v.ID, "db1")
	// (34, "upgrading") reads back as RESTARTING, as in Trove.
	if err := d.SetServiceStatus(ctx, in.ID, status.Upgrading); err != nil {
		t.Fatal(err)
	}
	st, _ := d.GetServiceStatus(ctx, in.ID)
	if st.StatusDescription != "upgrading" || st.Status() != status.Restarting {
		t.Fatalf("%+v", st)
	}
	clk.advance(90 * time.Second)
	if age := st.HeartbeatAge(clk.t); age != 90*time.Second {
		t.Fatalf("age %v", age)
	}
	assertKind(t, d.SetServiceStatus(ctx, "missing", status.Unknown), catalog.ErrNotFound)
}

func TestQuotas(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	def := catalog.Defaults{Instances: 3, RAM: -1, Volumes: 40, Backups: 50}
	q, err := d.GetQuotas(ctx, tenant, def)
	if err != nil || fmt.Sprint(q) != "[{instances 3 0 0} {ram -1 0 0} {backups 50 0 0} {volumes 40 0 0}]" {
		t.Fatalf("defaults %v %v", q, err)
	}
	if err := d.SetQuota(ctx, tenant, "instances", 20); err != nil {
		t.Fatal(err)
	}
	if err := d.SetQuota(ctx, tenant, "instances", 7); err != nil { // update in place
		t.Fatal(err)
	}
	if n := counts(t, d, "quotas"); n["quotas"] != 1 {
		t.Fatalf("quotas rows %v", n)
	}
	assertKind(t, d.SetQuota(ctx, tenant, "cores", 1), catalog.ErrNotFound)
	assertKind(t, d.SetQuota(ctx, tenant, "ram", -2), catalog.ErrBadRequest)
	if err := d.ChangeUsage(ctx, tenant, map[string]int{"backups": 1}, def); err != nil {
		t.Fatal(err)
	}
	if err := d.ChangeUsage(ctx, tenant, map[string]int{"backups": -5}, def); err != nil {
		t.Fatal(err)
	}
	q, _ = d.GetQuotas(ctx, tenant, def)
	if fmt.Sprint(q) != "[{instances 7 0 0} {ram -1 0 0} {backups 50 0 0} {volumes 40 0 0}]" {
		t.Fatalf("after changes %v (in_use is floored at 0)", q)
	}
	if err := d.SetQuota(ctx, tenant, "backups", 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.ChangeUsage(ctx, tenant, map[string]int{"backups": 1}, def).(*catalog.QuotaExceededError); !ok {
		t.Fatal("backup over a zero quota accepted")
	}
}

func TestRootHistory(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	clk := withClock(d)
	id := "4d0a7c1e-0000-4000-8000-000000000001"
	steps := []struct {
		op   string
		want bool
	}{
		{"check", false}, {"enable", true}, {"enable", true}, {"disable", false}, {"enable", true}, {"disable", false},
	}
	for i, s := range steps {
		clk.advance(time.Second)
		var err error
		switch s.op {
		case "enable":
			err = d.RecordRoot(ctx, id, "user-1")
		case "disable":
			err = d.DisableRoot(ctx, id)
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.RootEnabled(ctx, id)
		if err != nil || got != s.want {
			t.Fatalf("step %d %s: enabled = %v %v", i, s.op, got, err)
		}
	}
	h, err := d.GetRootHistory(ctx, id)
	if err != nil || h.User != "user-1" || h.Enabled() || h.DeletedAt == nil {
		t.Fatalf("history %+v %v", h, err)
	}
	_, err = d.GetRootHistory(ctx, "never")
	assertKind(t, err, catalog.ErrNotFound)
	if n := counts(t, d, "root_enabled_history"); n["root_enabled_history"] != 1 {
		t.Fatalf("rows %v", n)
	}
}

func TestFaultsAndPeers(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	_, v := seedDatastore(t, d)
	in := create(t, d, v.ID, "db1")
	long := ""
	for range 300 {
		long += "é"
	}
	if err := d.SaveFault(ctx, in.ID, long, "details 1"); err != nil {
		t.Fatal(err)
	}
	if err := d.SaveFault(ctx, in.ID, "second", "details 2"); err != nil {
		t.Fatal(err)
	}
	fl, err := d.GetFault(ctx, in.ID)
	if err != nil || fl.Message != "second" || fl.Details != "details 2" {
		t.Fatalf("fault %+v %v", fl, err)
	}
	if n := counts(t, d, "instance_faults"); n["instance_faults"] != 1 {
		t.Fatalf("fault rows %v", n)
	}
	var msgLen int
	d.SaveFault(ctx, in.ID, long, "")
	if err := d.Sqlx().Get(&msgLen, "SELECT CHAR_LENGTH(message) FROM instance_faults"); err != nil || msgLen != 255 {
		t.Fatalf("message length %d %v", msgLen, err)
	}
	assertKind(t, d.SaveFault(ctx, "missing", "m", "d"), catalog.ErrNotFound)

	_, err = d.GetRPCPeer(ctx, in.ID)
	assertKind(t, err, catalog.ErrNotFound)
	until := time.Date(2026, 2, 1, 0, 0, 0, 500, time.UTC)
	if err := d.SetRPCPeer(ctx, catalog.RPCPeer{InstanceID: in.ID, Envelope: catalog.EnvelopeAEAD, PreviousEncryptedKey: "old", PreviousValidUntil: &until}); err != nil {
		t.Fatal(err)
	}
	if err := d.SetRPCPeer(ctx, catalog.RPCPeer{InstanceID: in.ID, Envelope: catalog.EnvelopeTrove}); err != nil {
		t.Fatal(err)
	}
	p, err := d.GetRPCPeer(ctx, in.ID)
	if err != nil || p.Envelope != "trove" || p.PreviousEncryptedKey != "" || p.PreviousValidUntil != nil {
		t.Fatalf("peer %+v %v", p, err)
	}
	assertKind(t, d.SetRPCPeer(ctx, catalog.RPCPeer{InstanceID: in.ID, Envelope: "plain"}), catalog.ErrBadRequest)
}

// BenchmarkHeartbeat applies one ordered heartbeat (the conductor's hot path: one transaction, row locks).
func BenchmarkHeartbeat(b *testing.B) {
	d := newDB(b)
	_, v := seedDatastore(b, d)
	in := create(b, d, v.ID, "db1")
	sent := 1.0
	for b.Loop() {
		sent++
		if ok, err := d.Heartbeat(ctx, in.ID, "healthy", &sent); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
