package e2e

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/conductorapi"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/rpc/rpctest"
)

// Issue 5: an operator turns secure RPC on in a running cloud. Instances created while it is off are legacy
// (no key, plaintext) and keep working after it is turned on; new instances get their own random key and talk
// only encrypted (checked on the broker itself); an upgrade gives a legacy instance a key; admins see
// encrypted_rpc_messaging; forged heartbeats for a keyed instance are refused and counted; keys rotate without
// a rebuild while heartbeats flow.
func TestSecureRPCLifecycle(t *testing.T) {
	c := demo(t)
	admin := newCLI(t, deployment.admin)
	ver := c.datastoreVersion("mariadb")
	upVer := ver + "-secure-rpc"
	create := func(name string) string {
		return c.createInstance(name, "--flavor", c.smallFlavor(), "--size", "1", "--datastore", "mariadb",
			"--datastore-version", ver, "--databases", "app", "--users", "app:secret").ID
	}

	// Generated configuration: fresh keys, never Trove's published ones; no default-key warning.
	for _, k := range []string{"taskmanager_rpc_encr_key", "inst_rpc_key_encr_key"} {
		if v := confValue(t, "DEFAULT", k); v == "" || keyring.IsTroveDefault(v) {
			t.Fatalf("%s in %s is empty or a Trove default", k, troveConf)
		}
	}

	ensureQuota(t, map[string]int{"instances": 2, "volumes": 2, "ram": 2048})

	// 1. Secure RPC off: the new instance gets no key and talks plaintext; heartbeats keep it ACTIVE.
	cp := newControlPlane(t)
	cp.restart(false, nil)
	legacy := create("srpc-legacy")
	c.waitActive(legacy, buildTimeout)
	if k := catalogKey(t, legacy); k != "NULL" {
		t.Fatalf("legacy instance encrypted_key = %q, want NULL", k)
	}
	if gi := guestInfo(t, legacy); gi["instance_rpc_encr_key"] != "" {
		t.Fatalf("legacy guest_info.conf carries instance_rpc_encr_key")
	}
	tp := tap(t, legacy)
	c.must("database", "db", "create", legacy, "legacy1")
	seen := collect(t, tp, legacy, 30*time.Second, func(ms []rpctest.TappedMessage) bool {
		return hasMethod(ms, "create_database", "guestagent."+legacy)
	})
	if m := seen[len(seen)-1]; !m.Plaintext() || !strings.Contains(string(m.Body), "legacy1") {
		t.Fatalf("the legacy create_database should be readable on the broker (tap sanity check): %s", m.Body)
	}

	// 2. Secure RPC on (the upgrade target version is registered meanwhile): the legacy instance stays ACTIVE
	// and answers plaintext; a new instance gets its own key and is encrypted end to end.
	cp.restart(true, func() {
		out, err := exec.Command("/usr/local/bin/trove-manage", "--config-file", troveConf, "datastore_version_update",
			"mariadb", upVer, "mariadb", "mariadb-"+ver, "", "1").CombinedOutput()
		if err != nil {
			t.Fatalf("registering %s: %v\n%s", upVer, err, out)
		}
	})
	if slices.ContainsFunc(conductorRejects(t), func(l string) bool { return strings.Contains(l, legacy) }) {
		t.Fatal("the conductor rejected the legacy instance's plaintext")
	}
	c.waitActive(legacy, time.Minute)
	c.must("database", "db", "create", legacy, "legacy2")
	assertNames(t, c.names("database", "db", "list", legacy), []string{"app", "legacy1", "legacy2"}, nil)

	keyed := create("srpc-keyed")
	c.waitActive(keyed, buildTimeout)
	gi := guestInfo(t, keyed)
	key := gi["instance_rpc_encr_key"]
	if len(key) != 32 || keyring.IsTroveDefault(key) || gi["instance_rpc_envelope"] != "aead" {
		t.Fatalf("keyed guest_info.conf: key of %d characters, envelope %q", len(key), gi["instance_rpc_envelope"])
	}
	wrapped := catalogKey(t, keyed)
	if wrapped == "NULL" || strings.Contains(wrapped, key) {
		t.Fatalf("encrypted_key %q: missing or not encrypted", wrapped)
	}
	if k, err := keyring.Unwrap(confValue(t, "DEFAULT", "inst_rpc_key_encr_key"), wrapped); err != nil || k != key {
		t.Fatal("instances.encrypted_key is not the injected key wrapped with inst_rpc_key_encr_key")
	}
	tp = tap(t, keyed)
	c.must("database", "db", "create", keyed, "secretdb")
	assertNames(t, c.names("database", "db", "list", keyed), []string{"app", "secretdb"}, nil)
	seen = collect(t, tp, keyed, 45*time.Second, func(ms []rpctest.TappedMessage) bool {
		return hasMethod(ms, "create_database", "guestagent."+keyed) && hasMethod(ms, "list_databases", "guestagent."+keyed) &&
			hasMethod(ms, "heartbeat", conductorTopc)
	})
	assertEncrypted(t, seen, "secretdb")

	// 4. encrypted_rpc_messaging: shown to an admin, never to the owner.
	for _, tc := range []struct {
		id   string
		want bool
	}{{keyed, true}, {legacy, false}} {
		if v, ok := showField(t, admin, tc.id, "encrypted_rpc_messaging"); !ok || v != tc.want {
			t.Errorf("admin show %s: encrypted_rpc_messaging = %v (present %v), want %v", tc.id, v, ok, tc.want)
		}
		if _, ok := showField(t, c, tc.id, "encrypted_rpc_messaging"); ok {
			t.Errorf("non-admin show %s includes encrypted_rpc_messaging", tc.id)
		}
	}

	// No downgrade: forged heartbeats for the keyed instance (plaintext, wrong key, replay of a captured one)
	// are refused and counted; the instance stays ACTIVE/HEALTHY.
	forgeHeartbeats(t, keyed, seen)
	if i := c.show(keyed); i.Status != "ACTIVE" || i.OperatingStatus != "HEALTHY" {
		t.Fatalf("after forged heartbeats: %s", i)
	}

	// 3. Upgrade gives the legacy instance a key; its databases survive; its traffic is encrypted.
	tp = tap(t, legacy)
	c.must("database", "instance", "upgrade", legacy, upVer)
	c.waitStatus(legacy, time.Minute, "UPGRADE", "ACTIVE")
	c.waitActive(legacy, 3*time.Minute)
	if i := c.show(legacy); !strings.Contains(i.Datastore, upVer) && !strings.Contains(showDatastoreVersion(t, c, legacy), upVer) {
		t.Errorf("after upgrade the datastore version is not %s: %s", upVer, i.Datastore)
	}
	lgi := guestInfo(t, legacy)
	if len(lgi["instance_rpc_encr_key"]) != 32 || lgi["instance_rpc_envelope"] != "aead" || catalogKey(t, legacy) == "NULL" {
		t.Fatalf("the upgrade gave no key: guest_info %d-character key, envelope %q", len(lgi["instance_rpc_encr_key"]), lgi["instance_rpc_envelope"])
	}
	if lgi["instance_rpc_encr_key"] == key {
		t.Fatal("two instances share a key")
	}
	assertNames(t, c.names("database", "db", "list", legacy), []string{"app", "legacy1", "legacy2"}, nil)
	if v, _ := showField(t, admin, legacy, "encrypted_rpc_messaging"); v != true {
		t.Errorf("admin show after upgrade: encrypted_rpc_messaging = %v", v)
	}
	seen = collect(t, tp, legacy, 45*time.Second, func(ms []rpctest.TappedMessage) bool {
		return hasMethod(ms, "post_upgrade", "guestagent."+legacy) && hasMethod(ms, "list_databases", "guestagent."+legacy) &&
			countMethod(ms, "heartbeat", conductorTopc) > 0
	})
	var after []rpctest.TappedMessage // the legacy instance's messages from the rebuild on
	for i, m := range seen {
		if m.Method() == "post_upgrade" {
			after = seen[i:]
			break
		}
	}
	assertEncrypted(t, after, "legacy2")

	// Rotation without rebuild, under heartbeats: one instance, then all; no heartbeat is refused.
	rejectsBefore := len(conductorRejects(t))
	tp = tap(t, keyed)
	if code := adminAction(t, "/mgmt/instances/"+keyed+"/action", `{"rotate_rpc_key": {}}`); code != 202 {
		t.Fatalf("rotate_rpc_key: HTTP %d", code)
	}
	if ok, _ := waitFor(time.Minute, time.Second, func() (bool, string) {
		return guestInfo(t, keyed)["instance_rpc_encr_key"] != key, ""
	}); !ok {
		t.Fatal("the guest did not receive a new key")
	}
	// Heartbeats keep flowing under the new key (two more after the switch) and the API reaches the guest.
	collect(t, tp, keyed, 45*time.Second, func(ms []rpctest.TappedMessage) bool {
		return countMethod(ms, "heartbeat", conductorTopc) >= 2
	})
	assertNames(t, c.names("database", "db", "list", keyed), []string{"app", "secretdb"}, nil)
	keys := map[string]string{keyed: guestInfo(t, keyed)["instance_rpc_encr_key"], legacy: guestInfo(t, legacy)["instance_rpc_encr_key"]}
	if code := adminAction(t, "/mgmt/instances/action", `{"rotate_rpc_keys": {}}`); code != 202 {
		t.Fatalf("rotate_rpc_keys: HTTP %d", code)
	}
	for id, old := range keys {
		if ok, _ := waitFor(time.Minute, time.Second, func() (bool, string) {
			return guestInfo(t, id)["instance_rpc_encr_key"] != old, ""
		}); !ok {
			t.Fatalf("bulk rotation did not reach %s", id)
		}
	}
	assertNames(t, c.names("database", "db", "list", legacy), []string{"app", "legacy1", "legacy2"}, nil)
	if now := conductorRejects(t); len(now) != rejectsBefore {
		t.Fatalf("the conductor refused messages during rotation:\n%s", strings.Join(now[rejectsBefore:], "\n"))
	}
	for _, id := range []string{keyed, legacy} {
		if i := c.show(id); i.Status != "ACTIVE" || i.OperatingStatus != "HEALTHY" {
			t.Errorf("after rotation %s: %s", id, i)
		}
	}
}

// assertEncrypted fails when any message is readable on the broker or shows the secret text.
func assertEncrypted(t *testing.T, ms []rpctest.TappedMessage, secret string) {
	t.Helper()
	if len(ms) == 0 {
		t.Fatal("no messages observed")
	}
	for _, m := range ms {
		if m.Plaintext() || strings.Contains(string(m.Body), secret) {
			t.Fatalf("%s %s readable on the broker: %s", m.RoutingKey, m.Method(), m.Body)
		}
	}
}

func countMethod(ms []rpctest.TappedMessage, method, key string) int {
	n := 0
	for _, m := range ms {
		if m.Method() == method && m.RoutingKey == key {
			n++
		}
	}
	return n
}

func showDatastoreVersion(t *testing.T, c *cli, id string) string {
	v, _ := showField(t, c, id, "datastore_version")
	s, _ := v.(string)
	return s
}

// forgeHeartbeats sends three heartbeats claiming to be from id — plaintext, sealed with a wrong key, and a
// replay (fresh _unique_id) of a captured one — and waits until the conductor has refused each.
func forgeHeartbeats(t *testing.T, id string, captured []rpctest.TappedMessage) {
	t.Helper()
	ctx := context.Background()
	var hb rpctest.TappedMessage
	for _, m := range captured {
		if m.Method() == "heartbeat" {
			hb = m
		}
	}
	tr := dialControlPlane(t)
	args := conductorapi.HeartbeatArgs{InstanceID: id, Payload: conductorapi.HeartbeatPayload{ServiceStatus: "shutdown"}, Sent: conductorapi.Sent(time.Now())}
	before := len(conductorRejects(t))
	for _, codec := range []rpc.Codec{
		rpc.PlainCodec(),
		rpc.ConductorGuestCodec(id, "WrongKey0123456789WrongKey012345", rpc.EnvelopeAEAD),
	} {
		if err := tr.Client(rpc.Target{Topic: conductorTopc, Version: conductorapi.Version}, codec).Cast(ctx, rpc.Context{}, conductorapi.MethodHeartbeat, args); err != nil {
			t.Fatal(err)
		}
	}
	replay, err := rpctest.WithFreshUniqueID(hb.Body)
	if err != nil {
		t.Fatalf("captured heartbeat: %v", err)
	}
	tp := tap(t)
	if err := tp.Publish(ctx, conductorTopc, replay); err != nil {
		t.Fatal(err)
	}
	want := []string{rpc.RejectPlaintext, rpc.RejectDecrypt, rpc.RejectReplay}
	ok, last := waitFor(30*time.Second, 500*time.Millisecond, func() (bool, string) {
		lines := strings.Join(conductorRejects(t)[before:], "\n")
		for _, r := range want {
			if !strings.Contains(lines, r) {
				return false, lines
			}
		}
		return true, lines
	})
	if !ok {
		t.Fatalf("the conductor did not refuse and count all three forgeries (%v); new reject lines:\n%s", want, last)
	}
}
