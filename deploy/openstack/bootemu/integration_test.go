package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/sirupsen/logrus"
)

const (
	testbedEnv      = "/var/lib/trove-openstack/testbed.env"
	guestAgentBin   = "/usr/local/bin/trove-guestagent"
	guestAgentConf  = "/etc/trove/trove-guestagent.conf"
	startTheTestbed = "run: flock -o /tmp/trove-deploy.lock bash deploy/openstack.sh start"
)

// itMachine is the integration test's view of one emulated machine.
type itMachine struct {
	t    *testing.T
	root string
	id   string
}

func (m itMachine) dir() string { return filepath.Join(m.root, "servers", m.id) }

// guest is the live guest recorded in the machine's pid file, or a zero Proc.
func (m itMachine) guest() Proc {
	if p := readPidFile(filepath.Join(m.dir(), "guest.pid")); p.Alive() {
		return p
	}
	return Proc{}
}

func (m itMachine) guestLog() string {
	b, _ := os.ReadFile(filepath.Join(m.dir(), "guest.log"))
	return string(b)
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool, more func() string) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	extra := ""
	if more != nil {
		extra = "\n" + more()
	}
	t.Fatalf("timed out after %s waiting for %s%s", timeout, what, extra)
}

func waitStatus(t *testing.T, ctx context.Context, c *gophercloud.ServiceClient, id, want string) *servers.Server {
	t.Helper()
	var last *servers.Server
	eventually(t, 90*time.Second, "server "+id+" "+want, func() bool {
		s, err := servers.Get(ctx, c, id).Extract()
		if err != nil {
			return false
		}
		last = s
		if s.Status == "ERROR" {
			t.Fatalf("server %s went ERROR: %+v", id, s.Fault)
		}
		return s.Status == want
	}, func() string { return fmt.Sprintf("last: %+v", last) })
	return last
}

// bed is the real test bed as the integration tests use it: admin clients, the management network's name, the
// guests' user, the control plane's guest configuration.
type bed struct {
	ctx       context.Context
	env       map[string]string
	cloud     *Cloud
	mgmt      string
	cred      *syscall.Credential
	log       *logrus.Logger
	agentConf []byte
}

func openBed(t *testing.T) *bed {
	t.Helper()
	if _, err := os.Stat(testbedEnv); err != nil {
		t.Fatalf("the OpenStack test bed is not set up (%v); %s", err, startTheTestbed)
	}
	if _, err := os.Stat(guestAgentBin); err != nil {
		t.Fatalf("%v; build and install the guest agent: make build && flock -o /tmp/trove-deploy.lock deploy/run.sh", err)
	}
	b := &bed{}
	var err error
	if b.agentConf, err = os.ReadFile(guestAgentConf); err != nil {
		t.Fatalf("%v (deploy/run.sh writes it)", err)
	}
	if b.env, err = ReadEnvFile(testbedEnv); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"TESTBED_SHARED_NETWORK_ID", "TESTBED_IMAGE_MARIADB", "TESTBED_MGMT_NETWORK_ID"} {
		if b.env[k] == "" {
			t.Fatalf("%s missing in %s; %s", k, testbedEnv, startTheTestbed)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	b.ctx = ctx
	if b.cloud, err = Connect(ctx, b.env); err != nil {
		t.Fatalf("%v; %s", err, startTheTestbed)
	}
	if b.mgmt, err = b.cloud.NetworkName(ctx, b.env["TESTBED_MGMT_NETWORK_ID"]); err != nil {
		t.Fatal(err)
	}
	if b.cred, err = credential("trove"); err != nil {
		t.Fatal(err)
	}
	b.log = logrus.New()
	b.log.SetOutput(testWriter{t})
	return b
}

// root makes an emulator root the guests' user can traverse (t.TempDir's parent is 0700).
func (b *bed) root(t *testing.T, prefix string) string {
	root, err := os.MkdirTemp("/tmp", prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	return root
}

// emulator runs an emulator on root until the returned stop. At the test's end (after its deferred calls) the
// guests of the last emulator started are stopped, so a failed test leaves none behind.
func (b *bed) emulator(t *testing.T, root string) (*Emulator, func()) {
	e := &Emulator{Root: root, Launcher: Launcher{Binary: guestAgentBin, Cred: b.cred}, UID: int(b.cred.Uid),
		GID: int(b.cred.Gid), BinDirs: defaultBinDirs(), MgmtNet: b.mgmt, StopWait: 20 * time.Second, Log: b.log, Cloud: b.cloud}
	if err := e.Load(); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(b.ctx)
	done := make(chan struct{})
	go func() { defer close(done); e.Run(runCtx, 300*time.Millisecond, 250*time.Millisecond) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(func() {
		stop()
		for id, r := range e.records {
			e.stop(id, r, "test over")
		}
	})
	return e, stop
}

// volume creates an available 1 GB volume, deleted at the test's end if still there.
func (b *bed) volume(t *testing.T, name string) *volumes.Volume {
	vol, err := volumes.Create(b.ctx, b.cloud.volume, volumes.CreateOpts{Size: 1, Name: name}, nil).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 60; i++ { // available again once its server is gone
			err := volumes.Delete(context.Background(), b.cloud.volume, vol.ID, volumes.DeleteOpts{}).ExtractErr()
			if err == nil || gophercloud.ResponseCodeIs(err, 404) {
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
	})
	eventually(t, 60*time.Second, "volume available", func() bool {
		v, err := volumes.Get(b.ctx, b.cloud.volume, vol.ID).Extract()
		return err == nil && v.Status == "available"
	}, nil)
	return vol
}

// boot creates a server on the shared network from the mariadb image, flavor 1, claimed by the emulator on
// root, with the volume attached (as Trove's taskmanager attaches it) when volID is set; deleted at the end.
func (b *bed) boot(t *testing.T, name, root string, userData []byte, volID string, meta map[string]string) *servers.Server {
	return b.bootImage(t, b.env["TESTBED_IMAGE_MARIADB"], name, root, userData, volID, meta)
}

// bootImage is boot from another image.
func (b *bed) bootImage(t *testing.T, image, name, root string, userData []byte, volID string, meta map[string]string) *servers.Server {
	md := map[string]string{claimKey: root}
	for k, v := range meta {
		md[k] = v
	}
	opts := servers.CreateOpts{Name: name, ImageRef: image, FlavorRef: "1", UserData: userData,
		Networks: []servers.Network{{UUID: b.env["TESTBED_SHARED_NETWORK_ID"]}}, Metadata: md}
	if volID != "" {
		// With a block device mapping Nova wants the image's own entry (boot index 0) too.
		opts.BlockDevice = []servers.BlockDevice{
			{SourceType: servers.SourceImage, DestinationType: servers.DestinationLocal, UUID: opts.ImageRef, DeleteOnTermination: true},
			{SourceType: servers.SourceVolume, DestinationType: servers.DestinationVolume, UUID: volID, BootIndex: -1},
		}
	}
	srv, err := servers.Create(b.ctx, b.cloud.compute, opts, nil).Extract()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = servers.Delete(context.Background(), b.cloud.compute, srv.ID).ExtractErr() })
	return srv
}

// TestIntegrationMachineLifecycle boots a server on the real test bed with a cloud-config user_data carrying a
// guest_info.conf and the control plane's trove-guestagent.conf, lets an emulator (in this process, on a root
// of its own, claiming only this server) play its hypervisor, and checks the machine: files byte-identical,
// the real trove-guestagent running as trove with the port's address as bind_host and the volume as data
// disk; a reboot and a resize restart it; delete stops it and removes the machine; deleting the volume
// removes its directory.
func TestIntegrationMachineLifecycle(t *testing.T) {
	b := openBed(t)
	ctx, env, cloud, cred, agentConf := b.ctx, b.env, b.cloud, b.cred, b.agentConf
	root := b.root(t, "bootemu-it-")
	_, stopEmu := b.emulator(t, root)
	vol := b.volume(t, "bootemu-it")

	instanceID := fmt.Sprintf("bootemu-it-%d", time.Now().UnixNano())
	files := []testFile{
		{Path: "/etc/trove/conf.d/guest_info.conf", Encoding: "b64", Permissions: "0600", Owner: "trove:trove",
			Content: b64("[DEFAULT]\nguest_id = " + instanceID + "\ndatastore_manager = mariadb\ndatastore_version = it\ntenant_id = bootemu-it\n")},
		{Path: "/etc/trove/conf.d/trove-guestagent.conf", Encoding: "b64", Permissions: "0600", Owner: "trove:trove",
			Content: b64(string(agentConf))},
		{Path: "/etc/motd", Content: "emulated\n", Permissions: "0644"},
	}
	srv := b.boot(t, instanceID, root, cloudConfigDoc(t, files), vol.ID, map[string]string{"trove_instance_id": instanceID})
	m := itMachine{t: t, root: root, id: srv.ID}
	// A server without user_data boots a machine that runs nothing (and is not retried).
	plain := b.boot(t, instanceID+"-plain", root, nil, "", nil)
	s := waitStatus(t, ctx, cloud.compute, srv.ID, "ACTIVE")
	addr := ""
	for _, a := range s.Addresses["trove-shared"].([]any) {
		if a := a.(map[string]any); a["version"].(float64) == 4 {
			addr = a["addr"].(string)
		}
	}
	if !strings.HasPrefix(addr, "127.") {
		t.Fatalf("server address %q on trove-shared is not a loopback address", addr)
	}

	eventually(t, 30*time.Second, "the guest agent to run", func() bool { return m.guest().PID > 0 }, m.guestLog)
	first := m.guest()
	// Files byte-identical with the user_data's, with their permissions.
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(m.dir(), f.Path))
		if err != nil {
			t.Fatal(err)
		}
		want := []byte(f.Content)
		if f.Encoding == "b64" {
			want = unb64(t, f.Content)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %q, want %q", f.Path, got, want)
		}
		st, _ := os.Stat(filepath.Join(m.dir(), f.Path))
		if perm, _ := strconv.ParseUint(f.Permissions, 8, 32); st.Mode().Perm() != os.FileMode(perm) {
			t.Errorf("%s: mode %o, want %s", f.Path, st.Mode().Perm(), f.Permissions)
		}
	}
	dataDir := filepath.Join(root, "volumes", vol.ID)
	machine, _ := os.ReadFile(filepath.Join(m.dir(), "etc/trove/conf.d", machineConfName))
	for _, want := range []string{"bind_host = " + addr + "\n", "data_dir = " + dataDir + "\n", "volume_size_gb = 1\n",
		"server_bin_dir = /usr/sbin\n"} {
		if !strings.Contains(string(machine), want) {
			t.Errorf("%s lacks %q:\n%s", machineConfName, want, machine)
		}
	}
	// The real guest agent, as trove, reading the machine's config dir — still up after a few seconds (a
	// configuration it refuses makes it exit at once).
	time.Sleep(3 * time.Second)
	if !first.Alive() {
		t.Fatalf("the guest agent exited:\n%s", m.guestLog())
	}
	if args := readCmdline(first.PID); args != guestAgentBin+" --config-dir "+filepath.Join(m.dir(), "etc/trove/conf.d")+" " {
		t.Errorf("guest command line %q", args)
	}
	if uid := procUID(t, first.PID); uid != int(cred.Uid) {
		t.Errorf("guest runs as uid %d, want trove (%d)", uid, cred.Uid)
	}
	st, _ := os.Stat(dataDir)
	if st == nil || !st.IsDir() {
		t.Fatalf("data disk %s missing", dataDir)
	}

	// An in-use extend (volume API 3.42): the machine's volume_size_gb follows Cinder's size.
	v342 := *cloud.volume
	v342.Microversion = "3.42"
	if err := volumes.ExtendSize(ctx, &v342, vol.ID, volumes.ExtendSizeOpts{NewSize: 2}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "volume extended to 2 GB", func() bool {
		v, err := volumes.Get(ctx, cloud.volume, vol.ID).Extract()
		return err == nil && v.Size == 2 && v.Status == "in-use"
	}, nil)
	extended := time.Now()
	eventually(t, 10*time.Second, "volume_size_gb = 2", func() bool {
		b, _ := os.ReadFile(filepath.Join(m.dir(), "etc/trove/conf.d", machineConfName))
		return strings.Contains(string(b), "volume_size_gb = 2\n")
	}, nil)
	t.Logf("volume_size_gb followed the extend %s after Cinder showed it", time.Since(extended).Round(time.Millisecond))
	if !first.Alive() {
		t.Error("the guest did not survive the volume extend")
	}

	// Reboot → the guest restarts.
	if err := servers.Reboot(ctx, cloud.compute, srv.ID, servers.RebootOpts{Type: servers.SoftReboot}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "a new guest after the reboot", func() bool {
		g := m.guest()
		return g.PID > 0 && g != first
	}, m.guestLog)
	if first.Alive() {
		t.Error("the guest before the reboot still runs")
	}
	second := m.guest()

	// Resize → VERIFY_RESIZE runs the resized machine with a new guest; confirm keeps it.
	if err := servers.Resize(ctx, cloud.compute, srv.ID, servers.ResizeOpts{FlavorRef: "2"}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, cloud.compute, srv.ID, "VERIFY_RESIZE")
	eventually(t, 60*time.Second, "a new guest after the resize", func() bool {
		g := m.guest()
		return g.PID > 0 && g != second
	}, m.guestLog)
	third := m.guest()
	if err := servers.ConfirmResize(ctx, cloud.compute, srv.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, cloud.compute, srv.ID, "ACTIVE")
	time.Sleep(time.Second)
	if g := m.guest(); g != third {
		t.Errorf("confirming the resize restarted the guest (%+v → %+v)", third, g)
	}
	if b, _ := os.ReadFile(filepath.Join(m.dir(), "etc/motd")); string(b) != "emulated\n" {
		t.Errorf("/etc/motd after resize: %q", b)
	}

	// Stop → SHUTOFF → no guest; start → a new one.
	if err := servers.Stop(ctx, cloud.compute, srv.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, cloud.compute, srv.ID, "SHUTOFF")
	eventually(t, 30*time.Second, "the guest to stop with the server", func() bool { return !third.Alive() }, m.guestLog)
	if err := servers.Start(ctx, cloud.compute, srv.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, cloud.compute, srv.ID, "ACTIVE")
	eventually(t, 30*time.Second, "a guest after the start", func() bool { return m.guest().PID > 0 }, m.guestLog)
	fourth := m.guest()

	// An emulator restart adopts the running guest instead of starting another.
	stopEmu()
	_, stopEmu = b.emulator(t, root)
	time.Sleep(2 * time.Second)
	if g := m.guest(); g != fourth || !fourth.Alive() {
		t.Errorf("after an emulator restart the guest is %+v, want the adopted %+v", g, fourth)
	}
	guestAgents := func() int {
		return len(machineProcs(map[int]bool{}, []string{"--config-dir " + filepath.Join(m.dir(), "etc/trove/conf.d")}))
	}
	if n := guestAgents(); n != 1 {
		t.Errorf("%d guest agents of the machine after an emulator restart, want 1", n)
	}
	// An emulator that died before its state file recorded the guest: the next one stops the unknown guest
	// before it boots the machine, so there is still one.
	stopEmu()
	if err := os.Remove(filepath.Join(root, "state.json")); err != nil {
		t.Fatal(err)
	}
	b.emulator(t, root)
	eventually(t, 30*time.Second, "a single new guest after losing the state file", func() bool {
		g := m.guest()
		return g.PID > 0 && g != fourth && !fourth.Alive() && guestAgents() == 1
	}, m.guestLog)
	fourth = m.guest()

	// Rebuild with another image and new user_data (microversion 2.57): the root disk is laid out again from the
	// new user_data, the data disk is kept, a new guest runs.
	if err := os.WriteFile(filepath.Join(dataDir, "kept"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	rebuilt := []testFile{files[0], files[1]}
	rebuilt[0].Content = b64("[DEFAULT]\nguest_id = " + instanceID + "\ndatastore_manager = mariadb\ndatastore_version = it2\n")
	c257 := *cloud.compute
	c257.Microversion = "2.57"
	err := servers.Rebuild(ctx, &c257, srv.ID, rebuildWithUserData{ImageRef: env["TESTBED_IMAGE_MARIADB_2"],
		UserData: b64(string(cloudConfigDoc(t, rebuilt)))}).Err
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "a new guest after the rebuild", func() bool {
		g := m.guest()
		return g.PID > 0 && g != fourth
	}, m.guestLog)
	waitStatus(t, ctx, cloud.compute, srv.ID, "ACTIVE")
	fifth := m.guest()
	if b, _ := os.ReadFile(filepath.Join(m.dir(), rebuilt[0].Path)); !bytes.Equal(b, unb64(t, rebuilt[0].Content)) {
		t.Errorf("guest_info.conf after the rebuild: %q", b)
	}
	if _, err := os.Stat(filepath.Join(m.dir(), "etc/motd")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file of the old user_data survives the rebuild: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "kept")); err != nil {
		t.Errorf("the data disk lost a file in the rebuild: %v", err)
	}
	third = fifth

	// Delete → the guest stops and the machine goes; the volume's directory stays while the volume exists.
	if err := servers.Delete(ctx, cloud.compute, srv.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	pm := itMachine{t: t, root: root, id: plain.ID}
	state, _ := os.ReadFile(filepath.Join(root, "state.json"))
	if !strings.Contains(string(state), `"no_guest": "no user_data"`) || pm.guest().PID != 0 {
		t.Errorf("the server without user_data: state %s, guest %+v", state, pm.guest())
	}
	if err := servers.Delete(ctx, cloud.compute, plain.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the machine to go", func() bool {
		_, err := os.Stat(m.dir())
		return errors.Is(err, os.ErrNotExist) && !third.Alive()
	}, m.guestLog)
	if _, err := os.Stat(dataDir); err != nil {
		t.Errorf("the volume's directory went with the server: %v", err)
	}
	if left := machineProcs(map[int]bool{}, []string{m.dir() + "/", dataDir + "/"}); len(left) > 0 {
		t.Errorf("processes of the machine survive: %v", left)
	}
	eventually(t, 60*time.Second, "volume available again", func() bool {
		v, err := volumes.Get(ctx, cloud.volume, vol.ID).Extract()
		return err == nil && v.Status == "available"
	}, nil)
	if err := volumes.Delete(ctx, cloud.volume, vol.ID, volumes.DeleteOpts{}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the deleted volume's directory to go", func() bool {
		_, err := os.Stat(dataDir)
		return errors.Is(err, os.ErrNotExist)
	}, nil)
	eventually(t, 60*time.Second, "the plain machine to go", func() bool {
		_, err := os.Stat(pm.dir())
		return errors.Is(err, os.ErrNotExist)
	}, nil)
	state, _ = os.ReadFile(filepath.Join(root, "state.json"))
	// The bed is shared: servers of other tests (or ones a killed run left) may be in the state; ours must not.
	var recs map[string]json.RawMessage
	if err := json.Unmarshal(state, &recs); err != nil {
		t.Fatalf("state after delete: %s (%v)", state, err)
	}
	for _, id := range []string{srv.ID, plain.ID} {
		if _, ok := recs[id]; ok {
			t.Errorf("server %s still in the state after its delete: %s", id, state)
		}
	}
}

// rebuildWithUserData is a rebuild request with new user_data (gophercloud's RebuildOpts has none).
type rebuildWithUserData struct{ ImageRef, UserData string }

func (o rebuildWithUserData) ToServerRebuildMap() (map[string]any, error) {
	return map[string]any{"rebuild": map[string]any{"imageRef": o.ImageRef, "user_data": o.UserData}}, nil
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func unb64(t *testing.T, s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func procUID(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
			uid, _ := strconv.Atoi(f[1])
			return uid
		}
	}
	return -1
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
