package local

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/pkg/config"
)

// helperGuest stands in for trove-guestagent in the supervision tests: it keeps one child in its own process
// group and starts a second one in a new session whose command line names the instance directory, the way a
// database server started with --datadir=<instance dir>/data would look.
const helperGuest = `#!/bin/sh
confdir="$2"
sleep 300 &
setsid sh -c "sleep 300; : $confdir" &
wait
`

func newTestDriver(t *testing.T, pool string) (*Driver, string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "fake-guest")
	if err := os.WriteFile(bin, []byte(helperGuest), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		StateDir:         filepath.Join(dir, "state"),
		AddressPool:      netip.MustParsePrefix(pool),
		GuestAgentBinary: bin,
		Images:           map[string]string{"mariadb-local": "/usr/sbin", "pg-local": "/usr/bin", "broken": filepath.Join(dir, "missing")},
		Flavors:          DefaultFlavors,
		StopTimeout:      2 * time.Second,
	}
	return New(cfg, logrus.New()), dir
}

func TestConfigFrom(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "trove.conf")
	text := "[local]\nstate_dir = /srv/x\naddress_pool = 127.88.0.0/24\nguest_agent_binary = /opt/g\n" +
		"[local_images]\nmariadb-local = /usr/sbin\npostgresql-15-local = /usr/lib/postgresql/15/bin\n" +
		"[local_flavors]\nsmall = ds.small, 1024, 2, 5\n"
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := config.LoadFiles(p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ConfigFrom(f)
	if err != nil {
		t.Fatal(err)
	}
	if c.StateDir != "/srv/x" || c.AddressPool.String() != "127.88.0.0/24" || c.GuestAgentBinary != "/opt/g" {
		t.Fatalf("config %+v", c)
	}
	if c.Images["postgresql-15-local"] != "/usr/lib/postgresql/15/bin" || len(c.Images) != 2 {
		t.Fatalf("images %v", c.Images)
	}
	if len(c.Flavors) != 1 || c.Flavors[0] != (compute.Flavor{ID: "small", Name: "ds.small", RAM: 1024, VCPUs: 2, Disk: 5}) {
		t.Fatalf("flavors %+v", c.Flavors)
	}

	empty, _ := config.Parse("")
	c, err = ConfigFrom(empty)
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	if c.StateDir != "/var/lib/trove/local" || c.AddressPool.String() != "127.77.0.0/16" ||
		c.GuestAgentBinary != filepath.Join(filepath.Dir(exe), "trove-guestagent") || len(c.Flavors) != len(DefaultFlavors) {
		t.Fatalf("defaults %+v", c)
	}

	for _, bad := range []string{"10.0.0.0/8", "127.0.0.1/31", "nonsense"} {
		f, _ := config.Parse("[local]\naddress_pool = " + bad + "\n")
		if _, err := ConfigFrom(f); err == nil || !strings.Contains(err.Error(), "address_pool") {
			t.Errorf("pool %s: error %v", bad, err)
		}
	}
}

func TestAddressAllocation(t *testing.T) {
	cases := []struct {
		pool      string
		instances []string
		want      []string // "" = exhausted
	}{
		{"127.77.0.0/30", []string{"a", "b", "c"}, []string{"127.77.0.1", "127.77.0.2", ""}},
		{"127.77.0.0/29", []string{"a", "a", "b"}, []string{"127.77.0.1", "127.77.0.1", "127.77.0.2"}},
	}
	for _, c := range cases {
		t.Run(c.pool, func(t *testing.T) {
			s := state{Addresses: map[string]string{}}
			for i, id := range c.instances {
				got, err := s.allocate(netip.MustParsePrefix(c.pool), id)
				if c.want[i] == "" {
					if err == nil || !strings.Contains(err.Error(), "exhausted") {
						t.Fatalf("%s: got %q %v, want exhausted", id, got, err)
					}
					continue
				}
				if err != nil || got != c.want[i] {
					t.Fatalf("%s: got %q %v, want %s", id, got, err, c.want[i])
				}
			}
		})
	}
}

func TestResolveImage(t *testing.T) {
	d, _ := newTestDriver(t, "127.77.0.0/24")
	ctx := context.Background()
	img, err := d.ResolveImage(ctx, "mariadb-local")
	if err != nil || img.ServerBinDir != "/usr/sbin" {
		t.Fatalf("%+v %v", img, err)
	}
	_, err = d.ResolveImage(ctx, "ubuntu-jammy")
	if !errors.Is(err, compute.ErrNotFound) || !strings.Contains(err.Error(), "mariadb-local") {
		t.Fatalf("unknown image: %v", err)
	}
	if _, err := d.ResolveImage(ctx, "broken"); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing dir: %v", err)
	}
	if _, err := d.GetFlavor(ctx, "2"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.GetFlavor(ctx, "nope"); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("flavor: %v", err)
	}
}

func TestServerLifecycle(t *testing.T) {
	d, _ := newTestDriver(t, "127.77.0.0/24")
	ctx := context.Background()
	const id = "0b4c7d1e-1111-4222-8333-444455556666"

	vol, err := d.CreateVolume(ctx, compute.VolumeSpec{Name: "trove-" + id, SizeGB: 2, InstanceID: id})
	if err != nil {
		t.Fatal(err)
	}
	again, err := d.CreateVolume(ctx, compute.VolumeSpec{Name: "trove-" + id, SizeGB: 2, InstanceID: id})
	if err != nil || again.ID != vol.ID {
		t.Fatalf("retried volume create: %+v %v (first %s)", again, err, vol.ID)
	}
	files := map[string]string{
		compute.GuestInfoPath:   "[DEFAULT]\nguest_id=" + id + "\n",
		compute.GuestConfigPath: "[DEFAULT]\ntransport_url = rabbit://x\n",
	}
	srv, err := d.CreateServer(ctx, compute.ServerSpec{InstanceID: id, Name: "db1", ImageID: "mariadb-local",
		UserFiles: files, VolumeID: vol.ID})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Status != compute.ServerActive || srv.ID != id || len(srv.Addresses) != 1 || srv.Addresses[0].Addr != "127.77.0.1" {
		t.Fatalf("server %+v", srv)
	}
	inst := d.InstanceDir(id)
	info, err := os.ReadFile(filepath.Join(inst, "etc/trove/conf.d/guest_info.conf"))
	if err != nil || string(info) != files[compute.GuestInfoPath] {
		t.Fatalf("guest_info.conf %q %v", info, err)
	}
	wantConf := "[DEFAULT]\ntransport_url = rabbit://x\n\n[local]\nbind_host = 127.77.0.1\ndata_dir = " +
		filepath.Join(inst, "data") + "\nvolume_size_gb = 2\nserver_bin_dir = /usr/sbin\n"
	conf, _ := os.ReadFile(filepath.Join(inst, "etc/trove/conf.d/trove-guestagent.conf"))
	if string(conf) != wantConf {
		t.Fatalf("trove-guestagent.conf:\n%s\nwant:\n%s", conf, wantConf)
	}
	if v, _ := d.GetVolume(ctx, vol.ID); v.Status != compute.VolumeInUse {
		t.Fatalf("volume %+v", v)
	}

	// Extend rewrites the recorded size.
	if err := d.ExtendVolume(ctx, vol.ID, 3); err != nil {
		t.Fatal(err)
	}
	conf, _ = os.ReadFile(filepath.Join(inst, "etc/trove/conf.d/trove-guestagent.conf"))
	if !strings.Contains(string(conf), "volume_size_gb = 3\n") {
		t.Fatalf("after extend:\n%s", conf)
	}
	// An image switch rewrites the binaries the guest will use, without a restart.
	pid := d.guestPID(id)
	if err := d.SwitchImage(ctx, id, "pg-local"); err != nil {
		t.Fatal(err)
	}
	conf, _ = os.ReadFile(filepath.Join(inst, "etc/trove/conf.d/trove-guestagent.conf"))
	if !strings.Contains(string(conf), "server_bin_dir = /usr/bin\n") || d.guestPID(id) != pid {
		t.Fatalf("after switch (pid %d, was %d):\n%s", d.guestPID(id), pid, conf)
	}
	if err := d.SwitchImage(ctx, id, "nope"); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("switch to unknown image: %v", err)
	}
	if err := d.ExtendVolume(ctx, vol.ID, 1); err == nil {
		t.Fatal("shrinking a volume succeeded")
	}
	if err := d.DeleteVolume(ctx, vol.ID); err == nil {
		t.Fatal("deleting an attached volume succeeded")
	}

	// The helper's detached child must be running before we look at the process tree.
	marker := inst + "/"
	waitFor(t, func() bool { return len(processes(map[int]bool{}, marker)) >= 2 })

	// A restarted taskmanager (new driver on the same state dir) sees the same server.
	d2 := New(d.cfg, logrus.New())
	srv2, err := d2.GetServer(ctx, id)
	if err != nil || srv2.Status != compute.ServerActive || srv2.Addresses[0].Addr != "127.77.0.1" {
		t.Fatalf("after restart: %+v %v", srv2, err)
	}
	// A second instance gets the next address.
	if _, err := d2.CreateServer(ctx, compute.ServerSpec{InstanceID: "second", Name: "db2", ImageID: "mariadb-local"}); err != nil {
		t.Fatal(err)
	}
	if s, _ := d2.GetServer(ctx, "second"); s.Addresses[0].Addr != "127.77.0.2" {
		t.Fatalf("second server %+v", s)
	}

	pgid := d.guestPID(id)
	if err := d2.DeleteServer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if left := processes(map[int]bool{pgid: true}, marker); len(left) != 0 {
		t.Fatalf("processes left after delete: %v", left)
	}
	if _, err := d2.GetServer(ctx, id); !errors.Is(err, compute.ErrNotFound) {
		t.Fatalf("deleted server: %v", err)
	}
	if _, err := os.Stat(filepath.Join(inst, "etc")); !os.IsNotExist(err) {
		t.Fatalf("etc left behind: %v", err)
	}
	if err := d2.DeleteServer(ctx, id); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if err := d2.DeleteVolume(ctx, vol.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(inst); !os.IsNotExist(err) {
		t.Fatalf("instance dir left behind: %v", err)
	}
	// The released address is handed out again.
	if _, err := d2.CreateServer(ctx, compute.ServerSpec{InstanceID: "third", Name: "db3", ImageID: "mariadb-local"}); err != nil {
		t.Fatal(err)
	}
	if s, _ := d2.GetServer(ctx, "third"); s.Addresses[0].Addr != "127.77.0.1" {
		t.Fatalf("third server %+v", s)
	}
	for _, other := range []string{"second", "third"} {
		if err := d2.DeleteServer(ctx, other); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRebootAndCrash(t *testing.T) {
	d, _ := newTestDriver(t, "127.77.0.0/24")
	ctx := context.Background()
	if _, err := d.CreateServer(ctx, compute.ServerSpec{InstanceID: "r1", Name: "r1", ImageID: "mariadb-local"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.DeleteServer(ctx, "r1") })
	first := d.guestPID("r1")
	if err := d.RebootServer(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if s, _ := d.GetServer(ctx, "r1"); s.Status != compute.ServerActive || d.guestPID("r1") == first {
		t.Fatalf("after reboot %+v pid %d (was %d)", s, d.guestPID("r1"), first)
	}
	_ = syscall.Kill(-d.guestPID("r1"), syscall.SIGKILL)
	waitFor(t, func() bool { s, _ := d.GetServer(ctx, "r1"); return s.Status == compute.ServerShutoff })

	// A taskmanager starting on this host brings stopped guests back, and leaves running ones alone.
	d2 := New(d.cfg, logrus.New())
	started, err := d2.StartStopped(ctx)
	if err != nil || len(started) != 1 || started[0] != "r1" {
		t.Fatalf("started %v %v", started, err)
	}
	if s, _ := d2.GetServer(ctx, "r1"); s.Status != compute.ServerActive {
		t.Fatalf("after StartStopped %+v", s)
	}
	if again, _ := d2.StartStopped(ctx); len(again) != 0 {
		t.Fatalf("running guest started again: %v", again)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("condition not reached within 5s")
}

// A guest that execs another program loses the instance directory from its command line; the pid file's start
// time still identifies it.
func TestExecingGuestIsTracked(t *testing.T) {
	d, dir := newTestDriver(t, "127.77.0.0/24")
	bin := filepath.Join(dir, "exec-guest")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexec sleep 300\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	d.cfg.GuestAgentBinary = bin
	ctx := context.Background()
	if _, err := d.CreateServer(ctx, compute.ServerSpec{InstanceID: "x1", Name: "x1", ImageID: "mariadb-local"}); err != nil {
		t.Fatal(err)
	}
	pid := d.guestPID("x1")
	waitFor(t, func() bool { return !strings.Contains(cmdline(pid), "conf.d") })
	if s, _ := d.GetServer(ctx, "x1"); s.Status != compute.ServerActive {
		t.Fatalf("exec'ed guest reported %s", s.Status)
	}
	if err := d.DeleteServer(ctx, "x1"); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Fatalf("exec'ed guest %d survived delete", pid)
	}
}

// Database servers run as their own users: the path to the volume must be traversable, the config private.
func TestDirectoryModes(t *testing.T) {
	d, _ := newTestDriver(t, "127.77.0.0/24")
	if err := os.MkdirAll(d.cfg.StateDir, 0o700); err != nil { // an operator-made private state dir
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := d.CreateVolume(ctx, compute.VolumeSpec{SizeGB: 1, InstanceID: "m1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateServer(ctx, compute.ServerSpec{InstanceID: "m1", Name: "m1", ImageID: "mariadb-local",
		UserFiles: map[string]string{compute.GuestInfoPath: "[DEFAULT]\n"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.DeleteServer(ctx, "m1") })
	inst := d.InstanceDir("m1")
	for _, c := range []struct {
		path      string
		want, not os.FileMode
	}{
		{d.cfg.StateDir, 0o011, 0},
		{filepath.Join(d.cfg.StateDir, "instances"), 0o011, 0},
		{inst, 0o011, 0},
		{filepath.Join(inst, "data"), 0o011, 0},
		{filepath.Join(inst, "etc"), 0, 0o077},
		{filepath.Join(inst, "etc/trove/conf.d/guest_info.conf"), 0, 0o077},
	} {
		st, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if m := st.Mode().Perm(); m&c.want != c.want || m&c.not != 0 {
			t.Errorf("%s mode %o", c.path, m)
		}
	}
}
