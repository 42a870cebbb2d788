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
	var p Proc
	b, err := os.ReadFile(filepath.Join(m.dir(), "guest.pid"))
	if err != nil {
		return Proc{}
	}
	if _, err := fmt.Sscan(string(b), &p.PID, &p.Start); err != nil || !p.Alive() {
		return Proc{}
	}
	return p
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

// TestIntegrationMachineLifecycle boots a server on the real test bed with a cloud-config user_data carrying a
// guest_info.conf and the control plane's trove-guestagent.conf, lets an emulator (in this process, on a root
// of its own, claiming only this server) play its hypervisor, and checks the machine: files byte-identical,
// the real trove-guestagent running as trove with the port's address as bind_host and the volume as data
// disk; a reboot and a resize restart it; delete stops it and removes the machine; deleting the volume
// removes its directory.
func TestIntegrationMachineLifecycle(t *testing.T) {
	if _, err := os.Stat(testbedEnv); err != nil {
		t.Fatalf("the OpenStack test bed is not set up (%v); %s", err, startTheTestbed)
	}
	if _, err := os.Stat(guestAgentBin); err != nil {
		t.Fatalf("%v; build and install the guest agent: make build && flock -o /tmp/trove-deploy.lock deploy/run.sh", err)
	}
	agentConf, err := os.ReadFile(guestAgentConf)
	if err != nil {
		t.Fatalf("%v (deploy/run.sh writes it)", err)
	}
	env, err := ReadEnvFile(testbedEnv)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"TESTBED_SHARED_NETWORK_ID", "TESTBED_IMAGE_MARIADB", "TESTBED_MGMT_NETWORK_ID"} {
		if env[k] == "" {
			t.Fatalf("%s missing in %s; %s", k, testbedEnv, startTheTestbed)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cloud, err := Connect(ctx, env)
	if err != nil {
		t.Fatalf("%v; %s", err, startTheTestbed)
	}
	mgmt, err := cloud.NetworkName(ctx, env["TESTBED_MGMT_NETWORK_ID"])
	if err != nil {
		t.Fatal(err)
	}
	// The guest runs as trove: the root must be traversable, so not under t.TempDir (0700).
	root, err := os.MkdirTemp("/tmp", "bootemu-it-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	cred, err := credential("trove")
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(testWriter{t})
	// start runs an emulator on root until the returned stop; after stop its records are returned.
	var e *Emulator
	start := func() (stop func()) {
		e = &Emulator{Root: root, Launcher: Launcher{Binary: guestAgentBin, Cred: cred}, UID: int(cred.Uid),
			GID: int(cred.Gid), BinDirs: defaultBinDirs(), MgmtNet: mgmt, StopWait: 20 * time.Second, Log: log, Cloud: cloud}
		if err := e.Load(); err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); e.Run(runCtx, 300*time.Millisecond, 250*time.Millisecond) }()
		return func() { cancel(); <-done }
	}
	stopEmu := start()
	defer func() {
		stopEmu()
		for id, r := range e.records { // a failed test leaves no guest behind
			e.stop(id, r, "test over")
		}
	}()

	// A data volume, attached at boot as Trove's taskmanager does.
	vol, err := volumes.Create(ctx, cloud.volume, volumes.CreateOpts{Size: 1, Name: "bootemu-it"}, nil).Extract()
	if err != nil {
		t.Fatal(err)
	}
	volGone := false
	defer func() {
		if !volGone {
			_ = volumes.Delete(context.Background(), cloud.volume, vol.ID, volumes.DeleteOpts{}).ExtractErr()
		}
	}()
	eventually(t, 60*time.Second, "volume available", func() bool {
		v, err := volumes.Get(ctx, cloud.volume, vol.ID).Extract()
		return err == nil && v.Status == "available"
	}, nil)

	instanceID := fmt.Sprintf("bootemu-it-%d", time.Now().UnixNano())
	files := []testFile{
		{Path: "/etc/trove/conf.d/guest_info.conf", Encoding: "b64", Permissions: "0600", Owner: "trove:trove",
			Content: b64("[DEFAULT]\nguest_id = " + instanceID + "\ndatastore_manager = mariadb\ndatastore_version = it\ntenant_id = bootemu-it\n")},
		{Path: "/etc/trove/conf.d/trove-guestagent.conf", Encoding: "b64", Permissions: "0600", Owner: "trove:trove",
			Content: b64(string(agentConf))},
		{Path: "/etc/motd", Content: "emulated\n", Permissions: "0644"},
	}
	userData := cloudConfigDoc(t, files)
	srv, err := servers.Create(ctx, cloud.compute, servers.CreateOpts{
		Name: instanceID, ImageRef: env["TESTBED_IMAGE_MARIADB"], FlavorRef: "1", UserData: userData,
		Networks: []servers.Network{{UUID: env["TESTBED_SHARED_NETWORK_ID"]}},
		Metadata: map[string]string{"trove_instance_id": instanceID, claimKey: root},
		// With a block device mapping Nova wants the image's own entry (boot index 0) too.
		BlockDevice: []servers.BlockDevice{{SourceType: servers.SourceImage, DestinationType: servers.DestinationLocal,
			UUID: env["TESTBED_IMAGE_MARIADB"], BootIndex: 0, DeleteOnTermination: true}, {SourceType: servers.SourceVolume, DestinationType: servers.DestinationVolume,
			UUID: vol.ID, BootIndex: -1}},
	}, nil).Extract()
	if err != nil {
		t.Fatal(err)
	}
	deleted := false
	defer func() {
		if !deleted {
			_ = servers.Delete(context.Background(), cloud.compute, srv.ID).ExtractErr()
		}
	}()
	m := itMachine{t: t, root: root, id: srv.ID}
	// A server without user_data boots a machine that runs nothing (and is not retried).
	plain, err := servers.Create(ctx, cloud.compute, servers.CreateOpts{
		Name: instanceID + "-plain", ImageRef: env["TESTBED_IMAGE_MARIADB"], FlavorRef: "1",
		Networks: []servers.Network{{UUID: env["TESTBED_SHARED_NETWORK_ID"]}}, Metadata: map[string]string{claimKey: root},
	}, nil).Extract()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = servers.Delete(context.Background(), cloud.compute, plain.ID).ExtractErr() }()
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
	stopEmu = start()
	time.Sleep(2 * time.Second)
	if g := m.guest(); g != fourth || !fourth.Alive() {
		t.Errorf("after an emulator restart the guest is %+v, want the adopted %+v", g, fourth)
	}
	if n := len(machineProcs(map[int]bool{}, []string{"--config-dir " + filepath.Join(m.dir(), "etc/trove/conf.d")})); n != 1 {
		t.Errorf("%d guest agents of the machine after an emulator restart, want 1", n)
	}

	// Rebuild with another image and new user_data (microversion 2.57): the root disk is laid out again from the
	// new user_data, the data disk is kept, a new guest runs.
	if err := os.WriteFile(filepath.Join(dataDir, "kept"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	rebuilt := []testFile{files[0], files[1]}
	rebuilt[0].Content = b64("[DEFAULT]\nguest_id = " + instanceID + "\ndatastore_manager = mariadb\ndatastore_version = it2\n")
	c257 := *cloud.compute
	c257.Microversion = "2.57"
	err = servers.Rebuild(ctx, &c257, srv.ID, rebuildWithUserData{ImageRef: env["TESTBED_IMAGE_MARIADB_2"],
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
	deleted = true
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
	volGone = true
	eventually(t, 60*time.Second, "the deleted volume's directory to go", func() bool {
		_, err := os.Stat(dataDir)
		return errors.Is(err, os.ErrNotExist)
	}, nil)
	eventually(t, 60*time.Second, "the plain machine to go", func() bool {
		_, err := os.Stat(pm.dir())
		return errors.Is(err, os.ErrNotExist)
	}, nil)
	state, _ = os.ReadFile(filepath.Join(root, "state.json"))
	var recs map[string]json.RawMessage
	if err := json.Unmarshal(state, &recs); err != nil || len(recs) != 0 {
		t.Errorf("state after delete: %s (%v)", state, err)
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
