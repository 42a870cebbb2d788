package local

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/compute"
)

// The test binary is also the root helper: invoked as trove-local-helper (a symlink to it, or its own re-exec
// for the namespace init) it runs HelperMain instead of the tests.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == HelperName {
		os.Exit(HelperMain(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

const idA, idB = "0a0a0a0a-1111-4222-8333-444444444444", "0b0b0b0b-1111-4222-8333-444444444444"

func TestHelperArgs(t *testing.T) {
	good := []struct {
		args []string
		want helperCmd
	}{
		{[]string{"check"}, helperCmd{name: "check", stateDir: DefaultStateDir}},
		{[]string{"create", idA}, helperCmd{name: "create", id: idA, stateDir: DefaultStateDir}},
		{[]string{"start", idA, "/usr/local/bin/trove-guestagent"}, helperCmd{name: "start", id: idA, agent: "/usr/local/bin/trove-guestagent", stateDir: DefaultStateDir}},
		{[]string{"start", idA, "/usr/local/bin/trove-guestagent", "6e1c9a7e8f2b4f7e9c1d2a3b4c5d6e7f"}, helperCmd{name: "start", id: idA,
			agent: "/usr/local/bin/trove-guestagent", project: "6e1c9a7e8f2b4f7e9c1d2a3b4c5d6e7f", stateDir: DefaultStateDir}},
		{[]string{"stop", idA, "10"}, helperCmd{name: "stop", id: idA, timeout: 10 * time.Second, stateDir: DefaultStateDir}},
		{[]string{"--state-dir", "/srv/t", "destroy", idA}, helperCmd{name: "destroy", id: idA, stateDir: "/srv/t"}},
		{[]string{"memlimit", idA, "512"}, helperCmd{name: "memlimit", id: idA, memoryMB: 512, stateDir: DefaultStateDir}},
		{[]string{"access", idA, "127.88.0.2", "3306", "-"}, helperCmd{name: "access", id: idA, stateDir: DefaultStateDir,
			addr: netip.MustParseAddr("127.88.0.2"), ports: []int{3306}}},
		{[]string{"access", idA, "127.88.0.2", "5432,5433", "127.0.0.5/32,10.0.0.0/8"}, helperCmd{name: "access", id: idA,
			stateDir: DefaultStateDir, addr: netip.MustParseAddr("127.88.0.2"), ports: []int{5432, 5433},
			cidrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.5/32"), netip.MustParsePrefix("10.0.0.0/8")}}},
	}
	for _, g := range good {
		c, err := parseHelperArgs(g.args, false)
		if err != nil || !reflect.DeepEqual(c, g.want) {
			t.Errorf("%q: %+v %v, want %+v", g.args, c, err, g.want)
		}
	}
	bad := []struct {
		args    []string
		viaSudo bool
		want    string
	}{
		{nil, false, "usage"},
		{[]string{"rm", idA}, false, "unknown command"},
		{[]string{"create"}, false, "takes 1 argument"},
		{[]string{"create", idA, "x"}, false, "takes 1 argument"},
		{[]string{"create", strings.ToUpper(idA)}, false, "lower-case UUID"},
		{[]string{"create", idA + " "}, false, "lower-case UUID"},
		{[]string{"create", "../../etc"}, false, "lower-case UUID"},
		{[]string{"destroy", "root"}, false, "lower-case UUID"},
		{[]string{"start", idA, "trove-guestagent"}, false, "clean absolute path"},
		{[]string{"start", idA, "/usr/local/bin/../x"}, false, "clean absolute path"},
		{[]string{"start", idA, "/usr/local/bin/trove-guestagent", "../other"}, false, "project"},
		{[]string{"start", idA, "/usr/local/bin/trove-guestagent", ""}, false, "project"},
		{[]string{"start", idA, "/usr/local/bin/trove-guestagent", "p", "x"}, false, "takes 2 argument"},
		{[]string{"stop", idA, "10", "p"}, false, "takes 2 argument"},
		{[]string{"stop", idA, "-1"}, false, "whole seconds"},
		{[]string{"stop", idA, "1.5"}, false, "whole seconds"},
		{[]string{"stop", idA, "100000"}, false, "whole seconds"},
		{[]string{"--state-dir", "/srv/t", "check"}, true, "refused through sudo"},
		{[]string{"memlimit", idA}, false, "takes 2 argument"},
		{[]string{"memlimit", idA, "12"}, false, "whole MB"},
		{[]string{"memlimit", idA, "0512"}, false, "whole MB"},
		{[]string{"memlimit", idA, "1e3"}, false, "whole MB"},
		{[]string{"memlimit", "../x", "512"}, false, "lower-case UUID"},
		{[]string{"access", idA, "127.0.0.1", "3306", "-"}, false, "outside 127.0.0.0/24"},
		{[]string{"access", idA, "10.0.0.1", "3306", "-"}, false, "loopback"},
		{[]string{"access", idA, "127.88.0.02", "3306", "-"}, false, "loopback"},
		{[]string{"access", idA, "127.88.0.2", "0", "-"}, false, "1 to 65535"},
		{[]string{"access", idA, "127.88.0.2", "3306;reboot", "-"}, false, "1 to 65535"},
		{[]string{"access", idA, "127.88.0.2", "1,2,3,4,5,6,7,8,9", "-"}, false, "at most 8 ports"},
		{[]string{"access", idA, "127.88.0.2", "3306", "127.0.0.5/24"}, false, "canonical IPv4 prefix"},
		{[]string{"access", idA, "127.88.0.2", "3306", "::1/128"}, false, "canonical IPv4 prefix"},
		{[]string{"access", idA, "127.88.0.2", "3306", "127.0.0.5/32 -j ACCEPT"}, false, "canonical IPv4 prefix"},
		{[]string{"access", idA, "127.88.0.2", "3306", ""}, false, "canonical IPv4 prefix"},
		{[]string{"--state-dir", "srv", "check"}, false, "clean absolute path"},
		{[]string{"--state-dir", "/", "check"}, false, "clean absolute path"},
	}
	for _, b := range bad {
		if _, err := parseHelperArgs(b.args, b.viaSudo); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q (sudo %t): %v, want an error with %q", b.args, b.viaSudo, err, b.want)
		}
	}
	// Through sudo nothing but the fixed state directory, and the whole run refuses before doing anything.
	t.Setenv("SUDO_UID", "999")
	var out, errOut strings.Builder
	if code := HelperMain([]string{"--state-dir", "/tmp", "list"}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "refused through sudo") {
		t.Fatalf("helper through sudo with --state-dir: %d %q", code, errOut.String())
	}
	if InstanceUser(idA) != "trove-0a0a0a0a111142228333444444" || len(InstanceUser(idA)) != 32 {
		t.Fatalf("user name %q", InstanceUser(idA))
	}
}

func TestCheckAgent(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "agent")
	if err := os.WriteFile(ok, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkAgent(ok); err != nil {
		t.Fatalf("root-owned 0755 agent refused: %v", err)
	}
	write := func(name string, mode os.FileMode, uid int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(ok, link); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	inOpen := filepath.Join(open, "agent")
	if err := os.WriteFile(inOpen, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{write("group-writable", 0o775, 0), write("not-root", 0o755, 65534),
		write("not-executable", 0o644, 0), link, inOpen, filepath.Join(dir, "missing"), dir} {
		if err := checkAgent(p); err == nil {
			t.Errorf("agent %s accepted", p)
		}
	}
}

// isolatedDriver is a driver whose root helper is this test binary (the tests run as root, as make test does).
func isolatedDriver(t *testing.T, agentScript string) (*Driver, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the isolation tests need root (make test runs as root)")
	}
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	helper := filepath.Join(dir, HelperName)
	if err := os.Symlink(self, helper); err != nil {
		t.Fatal(err)
	}
	agent := filepath.Join(dir, "agent")
	if err := os.WriteFile(agent, []byte(agentScript), 0o755); err != nil {
		t.Fatal(err)
	}
	state, err := os.MkdirTemp("", "tli")
	if err != nil {
		t.Fatal(err)
	}
	d := New(Config{StateDir: state, AddressPool: netip.MustParsePrefix("127.77.250.0/24"), GuestAgentBinary: agent,
		Images: map[string]string{"img": "/usr/sbin"}, Flavors: DefaultFlavors, StopTimeout: 3 * time.Second,
		RootHelper: []string{helper}}, logrus.New())
	t.Cleanup(func() {
		for _, id := range []string{idA, idB} {
			_ = d.DeleteServer(context.Background(), id)
		}
		os.RemoveAll(state)
	})
	if err := d.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	return d, state
}

// probeGuest records what the guest sees into <data>/report, then idles.
const probeGuest = `#!/bin/sh
inst="$2/../../.."
data="$inst/data"
{
echo "uid=$(id -u) groups=$(id -G)"
for p in "$inst/../` + idB + `" /etc/trove /var/log/trove /var/lib/trove-deploy /run/mysqld /tmp/trove-local-host-mark /root/.bashrc; do
	if [ -e "$p" ]; then echo "visible $p"; fi
done
ls "$inst/.." | sed 's/^/sibling /'
touch "$inst/etc/x" 2>/dev/null && echo "etc writable"
touch /usr/x 2>/dev/null && echo "usr writable"
echo ok > /tmp/own && echo "tmp ok"
echo data > "$data/own" && echo "data ok"
} > "$data/report" 2>&1
sleep 300 &
wait
`

func readReport(t *testing.T, d *Driver, id string) string {
	t.Helper()
	p := filepath.Join(d.dataDir(id), "report")
	var b []byte
	for i := 0; i < 100; i++ {
		if b, _ = os.ReadFile(p); strings.Contains(string(b), "data ok") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return string(b)
}

// Two instances: each runs as its own user, sees neither the other nor the host's control plane, and leaves
// no user, process or file of its own after delete (the volume handed back to the control plane).
func TestIsolatedGuests(t *testing.T) {
	ctx := context.Background()
	d, state := isolatedDriver(t, probeGuest)
	hostMark := "/tmp/trove-local-host-mark" // on the host's /tmp: the guest must not see it
	if err := os.WriteFile(hostMark, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(hostMark)

	vol, err := d.CreateVolume(ctx, compute.VolumeSpec{InstanceID: idA, Name: "a", SizeGB: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{idB, idA} {
		spec := compute.ServerSpec{InstanceID: id, Name: id, ImageID: "img",
			UserFiles: map[string]string{"/etc/trove/conf.d/guest_info.conf": "[DEFAULT]\nguest_id = " + id + "\n"}}
		if id == idA {
			spec.VolumeID = vol.ID
		}
		srv, err := d.CreateServer(ctx, spec)
		if err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
		if srv.Status != compute.ServerActive {
			t.Fatalf("%s: %+v", id, srv)
		}
	}
	a, ok, err := instanceAccount(idA)
	if !ok || err != nil {
		t.Fatalf("no user for %s: %v", idA, err)
	}
	b, _, _ := instanceAccount(idB)
	if a.uid == b.uid || a.uid < instUIDMin || a.uid > instUIDMax {
		t.Fatalf("uids %d %d", a.uid, b.uid)
	}
	report := readReport(t, d, idA)
	t.Logf("guest A reports:\n%s", report)
	for _, want := range []string{"uid=" + strconv.Itoa(a.uid) + " groups=" + strconv.Itoa(a.gid) + "\n", "sibling " + idA,
		"tmp ok", "data ok"} {
		if !strings.Contains(report, want) {
			t.Errorf("guest A's report lacks %q", want)
		}
	}
	for _, bad := range []string{"visible", "sibling " + idB, "etc writable", "usr writable"} {
		if strings.Contains(report, bad) {
			t.Errorf("guest A's report has %q", bad)
		}
	}
	if _, err := os.Stat("/tmp/own"); err == nil {
		t.Error("the guest's /tmp is the host's")
	}
	// On the host: every process of A's guest is A's user but the namespace init (root, holding nothing).
	procs := processes(map[int]bool{}, d.instanceDir(idA)+"/")
	if len(procs) < 2 {
		t.Fatalf("guest A's processes: %v", procs)
	}
	for _, p := range procs {
		uids := accountProcs(a.uid)
		isA := false
		for _, u := range uids {
			isA = isA || u == p
		}
		if !isA && !strings.Contains(cmdline(p), HelperName+" ") {
			t.Errorf("process %d (%s) of guest A does not run as %s", p, cmdline(p), a.name)
		}
	}
	// Instance directory on the host: the control plane's, the instance's group; data/ the instance's.
	fi, _ := os.Stat(d.instanceDir(idA))
	if st := fi.Sys().(*syscall.Stat_t); int(st.Gid) != a.gid || fi.Mode().Perm() != 0o750 {
		t.Errorf("instance dir %v gid %d", fi.Mode(), st.Gid)
	}
	fi, _ = os.Stat(d.dataDir(idA))
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != a.uid || fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir %v uid %d", fi.Mode(), st.Uid)
	}

	// Reboot keeps the user; delete removes user, group, processes and hands the volume back.
	if err := d.RebootServer(ctx, idA); err != nil {
		t.Fatal(err)
	}
	if a2, _, _ := instanceAccount(idA); a2.uid != a.uid {
		t.Fatalf("reboot changed the user: %+v %+v", a, a2)
	}
	if err := d.DeleteServer(ctx, idA); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := instanceAccount(idA); ok {
		t.Fatal("user of A left after delete")
	}
	if p := accountProcs(a.uid); len(p) > 0 {
		t.Fatalf("processes of A's uid left after delete: %v", p)
	}
	if g, _ := os.ReadFile("/etc/group"); strings.Contains(string(g), "\n"+a.name+":") {
		t.Fatal("group of A left after delete")
	}
	if err := filepath.Walk(d.instanceDir(idA), func(p string, fi os.FileInfo, err error) error {
		if err == nil && int(fi.Sys().(*syscall.Stat_t).Uid) == a.uid {
			t.Errorf("%s still belongs to uid %d", p, a.uid)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteVolume(ctx, vol.ID); err != nil {
		t.Fatalf("deleting the handed-back volume: %v", err)
	}
	if _, err := os.Stat(d.instanceDir(idA)); !os.IsNotExist(err) {
		t.Fatalf("instance dir of A left: %v", err)
	}
	_ = state
}

// A create whose guest cannot start still made the user: delete removes it; an orphan user (its server
// forgotten) goes at the next StartStopped.
func TestIsolatedFailedCreateLeavesNothing(t *testing.T) {
	ctx := context.Background()
	d, _ := isolatedDriver(t, "#!/bin/sh\nsleep 300\n")
	if err := os.Chmod(d.cfg.GuestAgentBinary, 0o775); err != nil { // group-writable: the helper refuses it
		t.Fatal(err)
	}
	_, err := d.CreateServer(ctx, compute.ServerSpec{InstanceID: idA, Name: "a", ImageID: "img"})
	if err == nil || !strings.Contains(err.Error(), "writable only by root") {
		t.Fatalf("create with an unsafe agent: %v", err)
	}
	if _, ok, _ := instanceAccount(idA); !ok {
		t.Fatal("the failed create made no user: nothing to test")
	}
	if err := d.DeleteServer(ctx, idA); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := instanceAccount(idA); ok {
		t.Fatal("user left after deleting a failed create")
	}

	// Orphan: a user and an instance directory, no server recorded.
	if err := os.MkdirAll(d.instanceDir(idB), 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := d.helper(time.Minute, "create", idB); err != nil {
		t.Fatal(err)
	}
	if _, err := d.StartStopped(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := instanceAccount(idB); ok {
		t.Fatal("orphan user not removed by StartStopped")
	}
}
