package flows

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
)

func (e *env) guestInfo(id string) string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.drv.InstanceDir(id), "etc/trove/conf.d/guest_info.conf"))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

func (e *env) currentKey(id string) string {
	e.t.Helper()
	enc, err := e.db.EncryptedKey(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	k, err := keyring.Unwrap(testWrapKey, enc)
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

// upgrade runs the upgrade flow to newVersion as trove-api starts it (row names the version, task UPGRADING).
func (e *env) upgrade(t testing.TB, id string) {
	t.Helper()
	ctx := context.Background()
	if err := e.db.SetDatastoreVersion(ctx, id, e.newVersion.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetTask(ctx, id, status.TaskUpgrading); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Upgrade(ctx, rc, taskapi.UpgradeArgs{InstanceID: id, DatastoreVersionID: e.newVersion.ID}); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
}

// waitHeartbeatAfter waits for a healthy heartbeat recorded after mark (updated_at has whole seconds).
func (e *env) waitHeartbeatAfter(id string, mark time.Time) {
	e.t.Helper()
	waitFor(e.t, "a heartbeat", func() bool {
		st, err := e.db.GetServiceStatus(context.Background(), id)
		return err == nil && st.UpdatedAt != nil && st.UpdatedAt.After(mark.Add(time.Second)) && st.Status() == status.Healthy
	})
}

// listWith lists databases on the instance's guest with a codec of our choosing.
func (e *env) listWith(id string, codec rpc.Codec) error {
	c := guestapi.New(e.tr.Client(guestapi.Target(id), codec))
	c.Low = 3 * time.Second
	_, err := c.ListDatabases(context.Background(), rc, guestapi.ListArgs{})
	return err
}

func (e *env) conductorRejects() int {
	b, _ := os.ReadFile(filepath.Join(e.dir, "conductor.log"))
	return strings.Count(string(b), "rejected RPC message")
}

// A legacy (keyless, plaintext) instance upgraded with secure RPC on: the rebuild gives it a fresh key in
// guest_info.conf, its data survives, and from then on only the AEAD envelope under that key reaches it.
func TestUpgradeGivesLegacyInstanceAKey(t *testing.T) {
	t.Parallel()
	e := newGuestEnv(t)
	e.m.Config.EnableSecureRPC = true
	ctx := context.Background()
	in := e.instance("legacy", "")
	id := in.ID
	defer e.dumpGuestLog(id)
	if err := e.m.CreateInstance(ctx, rc, createArgsFor(in, "mariadb-local", "mariadb", "10.11")); err != nil {
		t.Fatal(err)
	}
	if gi := e.guestInfo(id); strings.Contains(gi, "instance_rpc_encr_key") {
		t.Fatalf("legacy guest_info.conf has a key:\n%s", gi)
	}
	if _, err := e.db.GetRPCPeer(ctx, id); err == nil {
		t.Fatal("legacy instance has an rpc_peers row")
	}
	if err := e.listWith(id, rpc.PlainCodec()); err != nil {
		t.Fatalf("plaintext call to the legacy guest: %v", err)
	}
	srv, _ := e.drv.GetServer(ctx, id)
	addr := srv.Addresses[0].Addr

	e.upgrade(t, id)
	if row := e.get(id); row.Task() != status.TaskNone || row.EncryptedKey == "" {
		t.Fatalf("after upgrade: task %q key %q", row.TaskDescription, row.EncryptedKey)
	}
	key := e.currentKey(id)
	if len(key) != 32 || keyring.IsTroveDefault(key) {
		t.Fatalf("instance key %q", key)
	}
	if p, err := e.db.GetRPCPeer(ctx, id); err != nil || p.Envelope != catalog.EnvelopeAEAD {
		t.Fatalf("rpc_peers %+v %v", p, err)
	}
	gi := e.guestInfo(id)
	if !strings.Contains(gi, "instance_rpc_encr_key="+key+"\n") || !strings.Contains(gi, "instance_rpc_envelope=aead\n") ||
		!strings.Contains(gi, "datastore_version=10.11.99\n") {
		t.Fatalf("guest_info.conf after upgrade:\n%s", gi)
	}
	if err := userQuery("mariadb", addr, 3306); err != nil {
		t.Fatalf("user database after upgrade: %v", err)
	}
	if err := e.listWith(id, rpc.AEADCodec(keyring.Single(key), id)); err != nil {
		t.Fatalf("AEAD call after upgrade: %v", err)
	}
	if err := e.listWith(id, rpc.PlainCodec()); err == nil {
		t.Fatal("the upgraded guest still answers plaintext")
	}
	// Heartbeats now arrive encrypted: the conductor keeps the instance healthy and rejects none of them. The old
	// keyless guest's last plaintext heartbeat may still be queued when the key is stored, and is rightly refused
	// (no downgrade); the conductor consumes in order, so it is gone once a heartbeat of the new guest was taken.
	e.waitHeartbeatAfter(id, time.Now())
	before := e.conductorRejects()
	e.waitHeartbeatAfter(id, time.Now())
	if n := e.conductorRejects() - before; n != 0 {
		t.Fatalf("conductor rejected %d messages of the upgraded guest", n)
	}
}

// An instance recorded as a Python guest on Trove's envelope (here our guest configured so, standing in for it)
// upgraded to a version built by this taskmanager: the rebuilt guest gets instance_rpc_envelope (aead) with the
// same key, the record follows, and the instance is then sent our methods.
func TestUpgradeMovesTroveEnvelopeGuestToOurs(t *testing.T) {
	t.Parallel()
	e := newGuestEnv(t)
	ctx := context.Background()
	id := e.instance("python", catalog.EnvelopeTrove).ID
	defer e.dumpGuestLog(id)
	if err := e.m.CreateInstance(ctx, rc, createArgsFor(e.get(id), "mariadb-local", "mariadb", "10.11")); err != nil {
		t.Fatal(err)
	}
	key := e.currentKey(id)
	if gi := e.guestInfo(id); !strings.Contains(gi, "instance_rpc_envelope=trove\n") {
		t.Fatalf("guest_info.conf:\n%s", gi)
	}
	e.upgrade(t, id)
	p, err := peerKeys(ctx, e.db, testWrapKey, id)
	if err != nil || p.Envelope != rpc.EnvelopeAEAD || p.Agent != guestapi.AgentGo || p.Keys.Current != key {
		t.Fatalf("after upgrade: %+v %v (key kept: %t)", p, err, p.Keys.Current == key)
	}
	if gi := e.guestInfo(id); !strings.Contains(gi, "instance_rpc_encr_key="+key+"\n") || !strings.Contains(gi, "instance_rpc_envelope=aead\n") {
		t.Fatalf("guest_info.conf after upgrade:\n%s", gi)
	}
	if err := e.listWith(id, rpc.AEADCodec(keyring.Single(key), id)); err != nil {
		t.Fatalf("AEAD call after upgrade: %v", err)
	}
	e.waitHeartbeatAfter(id, time.Now())
}

// Rotation without rebuild while the guest heartbeats every second: the guest switches keys, both keys work
// during the overlap, the old one is refused afterwards, and the conductor rejects no heartbeat.
func TestRotateRPCKeyUnderHeartbeats(t *testing.T) {
	t.Parallel()
	e := newGuestEnv(t)
	e.m.Config.RotationOverlap = 3 * time.Second
	ctx := context.Background()
	in := e.instance("keyed", catalog.EnvelopeAEAD)
	id := in.ID
	defer e.dumpGuestLog(id)
	if err := e.m.CreateInstance(ctx, rc, createArgsFor(in, "mariadb-local", "mariadb", "10.11")); err != nil {
		t.Fatal(err)
	}
	oldKey := e.currentKey(id)
	if err := e.listWith(id, rpc.AEADCodec(keyring.Single(oldKey), id)); err != nil {
		t.Fatal(err)
	}
	if err := e.m.RotateRPCKey(ctx, rc, id); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	newKey := e.currentKey(id)
	if newKey == oldKey || len(newKey) != 32 {
		t.Fatalf("key after rotation %q (old %q)", newKey, oldKey)
	}
	if gi := e.guestInfo(id); !strings.Contains(gi, "instance_rpc_encr_key="+newKey+"\n") {
		t.Fatalf("guest_info.conf after rotation:\n%s", gi)
	}
	if p, err := e.db.GetRPCPeer(ctx, id); err != nil || p.PreviousEncryptedKey == "" || p.PreviousValidUntil == nil {
		t.Fatalf("rpc_peers during the overlap %+v %v", p, err)
	}
	if err := e.listWith(id, rpc.AEADCodec(keyring.Single(newKey), id)); err != nil {
		t.Fatalf("new key: %v", err)
	}
	// Past the overlap the guest refuses the old key; heartbeats under the new key keep the instance healthy.
	waitFor(t, "the old key refused after the overlap", func() bool {
		return e.listWith(id, rpc.AEADCodec(keyring.Single(oldKey), id)) != nil
	})
	e.waitHeartbeatAfter(id, time.Now())
	if n := e.conductorRejects(); n != 0 {
		t.Fatalf("the conductor rejected %d messages during the rotation", n)
	}
	// The bulk form queues one rotation per keyed instance.
	if n, err := e.m.RotateRPCKeys(ctx, rc, ""); err != nil || n != 1 {
		t.Fatalf("RotateRPCKeys = %d %v", n, err)
	}
	e.m.Wait()
	if k := e.currentKey(id); k == newKey {
		t.Fatal("bulk rotation left the key unchanged")
	}
	if err := e.listWith(id, rpc.AEADCodec(keyring.Single(e.currentKey(id)), id)); err != nil {
		t.Fatalf("key after the bulk rotation: %v", err)
	}
	// A legacy instance cannot be rotated (a key would travel in plaintext).
	legacy := e.instance("legacy", "")
	if err := e.m.RotateRPCKey(ctx, rc, legacy.ID); err == nil {
		t.Fatal("rotating a keyless instance succeeded")
	}
}

// A taskmanager that stopped between giving a legacy instance its key and the rebuild: the guest still runs
// plaintext while the catalog says it is keyed. The resumed upgrade rebuilds it with the key anyway.
func TestResumedUpgradeAfterKeyGiven(t *testing.T) {
	t.Parallel()
	e := newGuestEnv(t)
	e.m.Config.EnableSecureRPC = true
	e.m.Config.AgentCallHigh = 3 * time.Second // pre_upgrade to the plaintext guest goes unanswered
	ctx := context.Background()
	in := e.instance("legacy-crash", "")
	id := in.ID
	defer e.dumpGuestLog(id)
	if err := e.m.CreateInstance(ctx, rc, createArgsFor(in, "mariadb-local", "mariadb", "10.11")); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetDatastoreVersion(ctx, id, e.newVersion.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetTask(ctx, id, status.TaskUpgrading); err != nil {
		t.Fatal(err)
	}
	if gave, err := e.m.giveKey(ctx, id); err != nil || !gave { // ... and the taskmanager stops here
		t.Fatalf("giveKey = %v %v", gave, err)
	}
	if err := e.m.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	e.m.Wait()
	if row := e.get(id); row.Task() != status.TaskNone {
		t.Fatalf("task after the resumed upgrade %q (fault %s)", row.TaskDescription, e.fault(id))
	}
	key := e.currentKey(id)
	if gi := e.guestInfo(id); !strings.Contains(gi, "instance_rpc_encr_key="+key+"\n") {
		t.Fatalf("guest_info.conf after the resumed upgrade:\n%s", gi)
	}
	if err := e.listWith(id, rpc.AEADCodec(keyring.Single(key), id)); err != nil {
		t.Fatalf("AEAD call after the resumed upgrade: %v", err)
	}
}

// BenchmarkRotateRPCKey measures one rotation end to end (catalog transaction, rotate_rpc_key call sealed with
// the old key, guest rewrites guest_info.conf and switches) against the real guest agent:
// go test -run XXX -bench RotateRPCKey -benchtime 20x ./internal/flows
func BenchmarkRotateRPCKey(b *testing.B) {
	e := newGuestEnv(b)
	ctx := context.Background()
	in := e.instance("bench-rotate", catalog.EnvelopeAEAD)
	if err := e.m.CreateInstance(ctx, rc, createArgsFor(in, "mariadb-local", "mariadb", "10.11")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.m.RotateRPCKey(ctx, rc, in.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// A rotation whose guest call never happened (taskmanager stopped after the catalog step) and whose overlap
// has passed: the guest's heartbeats are being refused. The next sweep finds the guest under the previous key,
// sends the rotation again, and once the new overlap is over drops the previous key.
func TestSweepFinishesInterruptedRotation(t *testing.T) {
	t.Parallel()
	e := newGuestEnv(t)
	e.m.Config.RotationOverlap = 2 * time.Second
	ctx := context.Background()
	in := e.instance("interrupted", catalog.EnvelopeAEAD)
	id := in.ID
	defer e.dumpGuestLog(id)
	if err := e.m.CreateInstance(ctx, rc, createArgsFor(in, "mariadb-local", "mariadb", "10.11")); err != nil {
		t.Fatal(err)
	}
	oldKey := e.currentKey(id)
	newKey, _ := keyring.NewInstanceKey()
	wrapNew, _ := keyring.Wrap(testWrapKey, newKey)
	wrapOld, _ := keyring.Wrap(testWrapKey, oldKey)
	past := time.Now().Add(-time.Minute)
	if err := e.db.SetInstanceKey(ctx, catalog.KeyChange{InstanceID: id, EncryptedKey: wrapNew, Envelope: catalog.EnvelopeAEAD,
		PreviousEncryptedKey: wrapOld, PreviousValidUntil: &past}); err != nil {
		t.Fatal(err)
	}
	if err := e.m.SweepOnce(ctx); err != nil {
		t.Fatal(err)
	}
	e.m.Wait()
	if gi := e.guestInfo(id); !strings.Contains(gi, "instance_rpc_encr_key="+newKey+"\n") {
		t.Fatalf("guest_info.conf after the sweep:\n%s", gi)
	}
	if err := e.listWith(id, rpc.AEADCodec(keyring.Single(newKey), id)); err != nil {
		t.Fatalf("new key after the sweep: %v", err)
	}
	e.waitHeartbeatAfter(id, time.Now())
	if ids, _ := e.db.PendingRotations(ctx); len(ids) != 1 {
		t.Fatalf("the previous key was dropped during the new overlap: %v", ids)
	}
	e.clock.advance(e.m.Config.RotationOverlap + time.Second)
	if err := e.m.SweepOnce(ctx); err != nil {
		t.Fatal(err)
	}
	e.m.Wait()
	if ids, _ := e.db.PendingRotations(ctx); len(ids) != 0 {
		t.Fatalf("previous key kept after the guest confirmed the new one: %v", ids)
	}
}

// Trove's guest agent has no rotate_rpc_key: rotating the key of an instance recorded as running it fails at
// once with a fault naming the method and the agent, before the catalog changes; the bulk form skips it.
func TestRotateRefusedForTroveGuest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	id := e.instance("python", catalog.EnvelopeTrove).ID
	key := e.currentKey(id)
	start := time.Now()
	err := e.m.RotateRPCKey(ctx, rc, id)
	if rpc.Kind(err) != "GuestError" || time.Since(start) > 2*time.Second {
		t.Fatalf("RotateRPCKey: %v after %s", err, time.Since(start))
	}
	if f := e.fault(id); !strings.Contains(f, "guest method rotate_rpc_key is trove-go's own and instance "+id+" runs Trove's Python guest agent") {
		t.Fatalf("fault %q", f)
	}
	if ids, _ := e.db.PendingRotations(ctx); e.currentKey(id) != key || len(ids) != 0 {
		t.Fatalf("the refused rotation changed the keys (pending %v)", ids)
	}
	if n, err := e.m.RotateRPCKeys(ctx, rc, ""); err != nil || n != 0 {
		t.Fatalf("RotateRPCKeys queued %d (%v), want none", n, err)
	}
}
