package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/conductorapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/testenv"
)

// pythonGuest is Debian's real Python trove-guestagent (python3-trove, Zed) standing in for the guest of an
// instance our control plane built, as on an instance that still runs Python Trove's guest image. It runs in a
// private mount namespace: /etc is a copy (it adds a Unix user at start), /run is empty (it cannot reach the
// host's MariaDB socket), /opt and /var/log/trove are its own, and its "data volume" is a tmpfs mounted from the
// device name it expects. Its Docker is fakeDocker. Its command line names the instance directory, so the local
// driver's delete stops it like any guest of the instance.
type pythonGuest struct {
	t   *testing.T
	cmd *exec.Cmd
	log string
}

// pyGuestSetup runs inside the namespace before the guest: $1 work dir, $2 mount point, $3 device name.
const pyGuestSetup = `set -eu
W=$1 MNT=$2 DEV=$3
shift 3
cp -a /etc "$W/etc"
mount --bind "$W/etc" /etc
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /opt
mkdir -p /opt/trove-guestagent /var/log/trove
touch /opt/trove-guestagent/.guestagent.prepare.end
mount -t tmpfs tmpfs /var/log/trove
mkdir -p "$MNT"
mount -t tmpfs -o size=1g "$DEV" "$MNT"
mkdir -p "$MNT/conf.d"
printf '[client]\nuser = root\npassword = not-used-by-the-fake-container\n' >"$MNT/conf.d/root.cnf"
exec "$@"
`

// startPythonGuest runs the Python guest agent for instance id with datastore manager mgr, keyed with key ("" for
// a keyless, plaintext guest), its Docker API served by d.
func startPythonGuest(t *testing.T, id, mgr, key string, d *fakeDocker) *pythonGuest {
	t.Helper()
	work := filepath.Join(instancesDir, id, "pyguest")
	if err := os.RemoveAll(work); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(work, 0o700); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(work, "data")
	conf := fmt.Sprintf(`[DEFAULT]
guest_id = %s
datastore_manager = %s
transport_url = %s
control_exchange = %s
report_interval = 2
state_change_wait_time = 30
log_dir = %s
log_file = guest.log
debug = true
`, id, mgr, guestTransportURL(t), confValue(t, "DEFAULT", "control_exchange"), work)
	if key != "" {
		conf += "instance_rpc_encr_key = " + key + "\n"
	}
	conf += fmt.Sprintf("\n[%s]\nmount_point = %s\ndevice_path = /dev/vdb\n", mgr, mnt)
	if err := os.WriteFile(filepath.Join(work, "guest.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(work, "setup.sh")
	if err := os.WriteFile(script, []byte(pyGuestSetup), 0o700); err != nil {
		t.Fatal(err)
	}
	g := &pythonGuest{t: t, log: filepath.Join(work, "guest.log")}
	g.cmd = exec.Command("unshare", "--mount", "--propagation", "private", "sh", script, work, mnt, "/dev/vdb",
		"/usr/bin/python3", "/usr/bin/trove-guestagent", "--config-file", filepath.Join(work, "guest.conf"))
	g.cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+d.sock)
	out, err := os.Create(filepath.Join(work, "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	g.cmd.Stdout, g.cmd.Stderr = out, out
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("starting the Python guest agent: %v", err)
	}
	t.Cleanup(func() {
		g.stop()
		// Root-owned (the copy of /etc, the guest's files): removed here so the local driver (user trove) can
		// delete the instance directory.
		_ = os.RemoveAll(work)
	})
	return g
}

// stop kills the guest's whole session and waits for it.
func (g *pythonGuest) stop() {
	if g.cmd.Process == nil || g.cmd.ProcessState != nil {
		return
	}
	_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
	_ = g.cmd.Wait()
}

// logTail is the end of the guest's own log, for failure messages.
func (g *pythonGuest) logTail() string {
	b, _ := os.ReadFile(g.log)
	out, _ := os.ReadFile(filepath.Join(filepath.Dir(g.log), "stdout.log"))
	s := string(out) + string(b)
	if len(s) > 6000 {
		s = s[len(s)-6000:]
	}
	return s
}

// guestTransportURL is the broker URL the deployment gives its guests.
func guestTransportURL(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(etcDir, "trove-guestagent.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && strings.TrimSpace(k) == "transport_url" {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("no transport_url in trove-guestagent.conf")
	return ""
}

// stopGoGuest kills the instance's Go guest agent and its database server (the session the local driver
// started, recorded in guest.pid) — the instance now has no guest until the test starts one.
func stopGoGuest(t *testing.T, id string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(instancesDir, id, "guest.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.Fields(string(b))[0])
	if err != nil || pid <= 1 {
		t.Fatalf("guest.pid of %s: %q", id, b)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	if ok, _ := waitFor(20*time.Second, 200*time.Millisecond, func() (bool, string) { return !alive(pid), "" }); !ok {
		t.Fatalf("the Go guest agent of %s (pid %d) did not die", id, pid)
	}
}

// setGuestEnvelope records, as an operator does, what the instance's guest speaks (trove-manage).
func setGuestEnvelope(t *testing.T, id, envelope string) {
	t.Helper()
	out, err := exec.Command("setpriv", "--reuid=trove", "--regid=trove", "--init-groups", "/usr/local/bin/trove-manage",
		"--config-file", filepath.Join(etcDir, "trove.conf"), "instance_guest_envelope", id, envelope).CombinedOutput()
	if err != nil {
		t.Fatalf("trove-manage instance_guest_envelope %s %s: %v\n%s", id, envelope, err, out)
	}
}

// catalogStatus is the instance's service_statuses.status_description: what the last accepted heartbeat said
// (unlike the API's status, never derived from a heartbeat's age).
func catalogStatus(t *testing.T, id string) string {
	t.Helper()
	return catalogQuery(t, "SELECT status_description FROM trove.service_statuses WHERE instance_id = '"+id+"'")
}

// waitHeartbeat waits until the conductor has recorded status want from the Python guest, then until the API shows
// operating_status api (states.md §1.2). Trove's guest reports from a periodic task that runs every 60 s, hence the long wait.
func waitHeartbeat(t *testing.T, c *cli, g *pythonGuest, id, want, api string) instance {
	t.Helper()
	if ok, last := waitFor(150*time.Second, time.Second, func() (bool, string) {
		s := catalogStatus(t, id)
		return s == want, s
	}); !ok {
		t.Fatalf("instance %s: the Python guest's heartbeat %q was not recorded (status %q)\n--- guest log ---\n%s\n--- conductor refusals ---\n%s",
			id, want, last, g.logTail(), strings.Join(conductorRejects(t), "\n"))
	}
	var last instance
	if ok, _ := waitFor(30*time.Second, time.Second, func() (bool, string) {
		i, ok := c.poll(id)
		last = i
		return ok && i.OperatingStatus == api, ""
	}); !ok {
		t.Fatalf("instance %s: heartbeat %q recorded, but the API shows %s, want operating_status %s", id, want, last, api)
	}
	return last
}

// Issue 10: an instance whose guest is Debian's real Python trove-guestagent keeps working with our control plane
// — keyed with Trove's envelope, then keyless in plaintext: its heartbeats drive the status, `instance show` has
// volume usage from its get_filesystem_stats, `database list` is answered by it (an error from its own database is
// fine, UnsupportedVersion is not), and heartbeats forged for it are refused.
func TestPythonGuestAgent(t *testing.T) {
	t.Parallel()
	c := demo(t)
	created := c.createInstance(testenv.UniqueName(t, "pyguest"), "--flavor", c.smallFlavor(), "--size", "1",
		"--datastore", "mysql", "--datastore-version", c.datastoreVersion("mysql"))
	id := created.ID
	c.waitActive(id, buildTimeout)
	key := guestInfo(t, id)["instance_rpc_encr_key"]
	if len(key) != 32 {
		t.Fatalf("instance %s has no 32-character RPC key in guest_info.conf (secure RPC is on in make run)", id)
	}

	stopGoGuest(t, id)
	setGuestEnvelope(t, id, "trove")
	d := newFakeDocker(t)
	g := startPythonGuest(t, id, "mysql", key, d)

	if !t.Run("keyed", func(t *testing.T) {
		// Its container crashes, then runs again: the status follows the guest's heartbeats.
		d.set("dead", 0)
		waitHeartbeat(t, c, g, id, "crashed", "SHUTDOWN")
		d.set("running", 0)
		if i := waitHeartbeat(t, c, g, id, "healthy", "HEALTHY"); i.Status != "ACTIVE" {
			t.Errorf("running container, commands succeed: status %q, want ACTIVE", i.Status)
		}
		checkPythonGuest(t, c, g, d, id)
		forgePythonGuestHeartbeats(t, c, id, key)
	}) {
		return
	}
	g.stop()

	// The same instance as Python Trove would have built it with secure RPC off: no key in the catalog (set here
	// directly — our control plane never drops a key), recorded by the operator as a plaintext Python guest.
	catalogQuery(t, "UPDATE trove.instances SET encrypted_key = NULL WHERE id = '"+id+"'; DELETE FROM trove.rpc_peers WHERE instance_id = '"+id+"'")
	setGuestEnvelope(t, id, "plain")
	g = startPythonGuest(t, id, "mysql", "", d)
	t.Run("plaintext", func(t *testing.T) {
		d.set("exited", 0)
		waitHeartbeat(t, c, g, id, "shutdown", "SHUTDOWN")
		checkPythonGuest(t, c, g, d, id)
	})
}

// checkPythonGuest: show has volume usage, database list reaches the guest.
func checkPythonGuest(t *testing.T, c *cli, g *pythonGuest, d *fakeDocker, id string) {
	if !d.called("GET /containers/database/json") || !d.called("POST /containers/database/exec") {
		t.Errorf("the Python guest never inspected or exec'd into its container: did it run at all?\n%s", g.logTail())
	}

	// Volume usage comes from the guest's get_filesystem_stats (its tmpfs "volume").
	ok, last := waitFor(30*time.Second, time.Second, func() (bool, string) {
		v, ok := showField(t, c, id, "volume_used")
		return ok && v != nil, fmt.Sprint(v)
	})
	if !ok {
		t.Errorf("instance show has no volume_used from the Python guest (last %s)\n%s", last, g.logTail())
	}

	// database list reaches the guest: its answer, or an error from its own (absent) database — never a refusal
	// of the message's version or a timeout.
	out, err := c.run("database", "db", "list", id)
	for _, bad := range []string{"UnsupportedVersion", "does not support RPC version", "Timeout", "timed out"} {
		if strings.Contains(out, bad) {
			t.Errorf("database list with the Python guest (err %v): %s", err, out)
		}
	}
}

// forgePythonGuestHeartbeats sends heartbeats claiming to be from the keyed Python guest's instance — plaintext,
// Trove's envelope under a wrong key, and a heartbeat for another instance sealed with this instance's key — and
// checks the conductor refuses each while the status stays where the real guest put it.
func forgePythonGuestHeartbeats(t *testing.T, c *cli, id, key string) {
	t.Helper()
	ctx := context.Background()
	tr := dialControlPlane(t)
	before := len(conductorRejects(t))
	cast := func(codec rpc.Codec, claimed string) {
		args := conductorapi.HeartbeatArgs{InstanceID: claimed, Payload: conductorapi.HeartbeatPayload{ServiceStatus: "crashed"},
			Sent: conductorapi.Sent(time.Now())}
		if err := tr.Client(rpc.Target{Topic: conductorTopc, Version: conductorapi.Version}, codec).Cast(ctx, rpc.Context{}, conductorapi.MethodHeartbeat, args); err != nil {
			t.Fatal(err)
		}
	}
	cast(rpc.PlainCodec(), id)
	cast(rpc.ConductorGuestCodec(id, "WrongKey0123456789WrongKey012345", rpc.EnvelopeTrove), id)
	other := "00000000-0000-4000-8000-00000000beef"
	cast(rpc.ConductorGuestCodec(id, key, rpc.EnvelopeTrove), other)
	ok, lines := waitFor(30*time.Second, 500*time.Millisecond, func() (bool, string) {
		got := conductorRejects(t)[before:]
		return len(got) >= 3, strings.Join(got, "\n")
	})
	if !ok {
		t.Fatalf("the conductor did not refuse all three forged heartbeats; new reject lines:\n%s", lines)
	}
	for _, want := range []string{rpc.RejectPlaintext, rpc.RejectDecrypt} {
		if !strings.Contains(lines, want) {
			t.Errorf("no %s refusal among:\n%s", want, lines)
		}
	}
	time.Sleep(3 * time.Second) // a forged "crashed" that got through would show by now
	if i := c.show(id); i.Status == "ERROR" || i.OperatingStatus == "CRASHED" || i.Status == "CRASHED" {
		t.Fatalf("a forged heartbeat changed the status: %s", i)
	}
}
