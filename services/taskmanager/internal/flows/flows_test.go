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

var rc = rpc.Context{RequestID: "req-flows-test", UserID: "user-1", ProjectID: "tenant-1"}

func createArgs(in catalog.Instance, image string) taskapi.CreateInstanceArgs {
	return createArgsFor(in, image, "mariadb", "10.11")
}

func createArgsFor(in catalog.Instance, image, manager, dsVersion string) taskapi.CreateInstanceArgs {
	size := 1
	pw, rootPW := "secret-pw-1", "root-pw-1"
	return taskapi.CreateInstanceArgs{
		InstanceID: in.ID, Name: in.Name, Flavor: taskapi.Flavor{ID: "1", Name: "m1.tiny", RAM: 512},
		ImageID: image, DatastoreManager: manager, VolumeSize: &size, DSVersion: dsVersion,
		Databases:    []taskapi.Database{{Name: "appdb"}},
		Users:        []taskapi.User{{Name: "appuser", Host: "%", Password: &pw, Databases: []taskapi.Database{{Name: "appdb"}}}},
		RootPassword: &rootPW,
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 600; i++ {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within 15s", what)
}

func TestCreateUnknownImageFailsServerBuild(t *testing.T) {
	e := newEnv(t, envOpts{})
	in := e.instance("db-badimage", catalog.EnvelopeAEAD)
	err := e.m.CreateInstance(context.Background(), rc, createArgs(in, "no-such-image"))
	if err == nil {
		t.Fatal("create with an unknown image succeeded")
	}
	got := e.get(in.ID)
	if got.Task() != status.TaskBuildingErrorServer {
		t.Fatalf("task %d %q, want 81", got.TaskID, got.TaskDescription)
	}
	if f := e.fault(in.ID); !strings.Contains(f, "no-such-image") || !strings.Contains(f, "mariadb-local") {
		t.Fatalf("fault %q does not name the image and the known ones", f)
	}
	if got.VolumeID == "" || got.ComputeInstanceID != "" {
		t.Fatalf("volume %q server %q after a server failure", got.VolumeID, got.ComputeInstanceID)
	}
	// Deleting the failed instance removes the volume and the row, and releases the quota.
	if err := e.m.DeleteInstance(context.Background(), rc, in.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.get(in.ID); !got.Deleted {
		t.Fatal("row not deleted")
	}
	if _, err := e.drv.GetVolume(context.Background(), got.VolumeID); err == nil {
		t.Fatal("volume left behind")
	}
}

// The guest never reports: prepare must wait in the pre-created guest queue with the request's contents, and
// the deadline (moved by the injected clock) ends the build with task 91, status `guestagent error` and a fault.
func TestCreateTimeoutAndDelete(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	in := e.instance("db-timeout", catalog.EnvelopeAEAD)
	done := make(chan error, 1)
	go func() { done <- e.m.CreateInstance(ctx, rc, createArgs(in, "mariadb-local")) }()
	waitFor(t, "server recorded", func() bool { return e.get(in.ID).ComputeInstanceID != "" })

	// Guest files are where a VM would find them.
	dir := e.drv.InstanceDir(in.ID)
	info, err := os.ReadFile(filepath.Join(dir, "etc/trove/conf.d/guest_info.conf"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := keyring.Unwrap(testWrapKey, in.EncryptedKey)
	for _, want := range []string{"guest_id=" + in.ID + "\n", "datastore_manager=mariadb\n", "datastore_version=10.11\n",
		"tenant_id=tenant-1\n", "instance_rpc_encr_key=" + key + "\n", "instance_rpc_envelope=aead\n"} {
		if !strings.Contains(string(info), want) {
			t.Errorf("guest_info.conf lacks %q:\n%s", want, info)
		}
	}
	conf, _ := os.ReadFile(filepath.Join(dir, "etc/trove/conf.d/trove-guestagent.conf"))
	for _, want := range []string{"control_exchange = " + e.exchange, "[local]\nbind_host = 127.77.", "volume_size_gb = 1\n", "server_bin_dir = /usr/sbin\n"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("trove-guestagent.conf lacks %q:\n%s", want, conf)
		}
	}

	// prepare was cast before anyone listened; a guest-side server on the instance's topic receives it.
	p, err := peerKeys(ctx, e.db, testWrapKey, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := rpc.GuestCodec(in.ID, p.Keys, p.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan guestapi.PrepareArgs, 1)
	srv := e.tr.NewServer(rpc.ServerConfig{Topic: guestapi.Topic(in.ID), Server: in.ID, Version: guestapi.Version, Codec: codec})
	rpc.Register(srv, guestapi.MethodPrepare, func(_ context.Context, _ rpc.Context, a guestapi.PrepareArgs) (rpc.Void, error) {
		got <- a
		return rpc.Void{}, nil
	})
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(ctx) //nolint:errcheck
	var pa guestapi.PrepareArgs
	select {
	case pa = <-got:
	case <-time.After(15 * time.Second):
		t.Fatal("prepare never arrived")
	}
	if pa.MemoryMB != 512 || len(pa.Databases) != 1 || pa.Databases[0].Name != "appdb" || len(pa.Users) != 1 ||
		*pa.Users[0].Password != "secret-pw-1" || *pa.RootPassword != "root-pw-1" || *pa.MountPoint != "/var/lib/mysql" ||
		!strings.Contains(*pa.ConfigContents, "[mysqld]") || *pa.DSVersion != "10.11" {
		t.Fatalf("prepare args %+v", pa)
	}
	if on, _ := e.db.RootEnabled(ctx, in.ID); !on {
		t.Error("root_enabled_history not recorded for a root password at create")
	}

	e.clock.advance(31 * time.Minute)
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("create succeeded without a guest")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("create did not give up after the deadline")
	}
	row := e.get(in.ID)
	if row.Task() != status.TaskBuildingErrorTimeoutGA || e.guestStatus(in.ID) != "guestagent error" {
		t.Fatalf("task %q status %q", row.TaskDescription, e.guestStatus(in.ID))
	}
	if f := e.fault(in.ID); !strings.Contains(f, "usage_timeout") {
		t.Fatalf("fault %q", f)
	}

	if err := e.db.SetTask(ctx, in.ID, status.TaskDeleting); err != nil {
		t.Fatal(err)
	}
	if err := e.m.DeleteInstance(ctx, rc, in.ID); err != nil {
		t.Fatal(err)
	}
	if row := e.get(in.ID); !row.Deleted || e.guestStatus(in.ID) != "deleted" {
		t.Fatalf("after delete: deleted=%v status %q", row.Deleted, e.guestStatus(in.ID))
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("instance directory left: %v", err)
	}
	// Deleting again is harmless.
	if err := e.m.DeleteInstance(ctx, rc, in.ID); err != nil {
		t.Fatal(err)
	}
}

// A taskmanager that crashed leaves rows mid-flow; Resume finishes or fails each of them.
func TestResumeAfterCrash(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.m.Config.AgentCallHigh = time.Second // no guest answers restart in this test
	ctx := context.Background()
	buildingNew := e.instance("building-new", catalog.EnvelopeAEAD)
	buildingHealthy := e.instance("building-healthy", "")
	deleting := e.instance("deleting", "")
	rebooting := e.instance("rebooting", "")
	resizing := e.instance("resizing", "")
	untouched := e.instance("untouched", "")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// building-healthy: prepare had reached the guest, which reported healthy while no taskmanager ran.
	must(e.db.SetServiceStatus(ctx, buildingHealthy.ID, status.Healthy))
	must(e.db.SetTask(ctx, deleting.ID, status.TaskDeleting))
	must(e.db.SetTask(ctx, rebooting.ID, status.TaskRebooting))
	must(e.db.SetTask(ctx, resizing.ID, status.TaskResizing))
	must(e.db.SetTask(ctx, untouched.ID, status.TaskNone))

	must(e.m.Resume(ctx))
	e.m.Wait()

	cases := []struct {
		name      string
		id        string
		wantTask  status.InstanceTask
		deleted   bool
		wantFault string
	}{
		{"building, guest never prepared", buildingNew.ID, status.TaskBuildingErrorTimeoutGA, false, "restarted before the guest was prepared"},
		{"building, guest healthy", buildingHealthy.ID, status.TaskNone, false, ""},
		{"deleting", deleting.ID, status.TaskNone, true, ""},
		{"rebooting", rebooting.ID, status.TaskNone, false, "Error restarting"},
		{"resizing", resizing.ID, status.TaskNone, false, "restarted during the resize"},
		{"not in a flow", untouched.ID, status.TaskNone, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			row := e.get(c.id)
			if row.Task() != c.wantTask || row.Deleted != c.deleted {
				t.Fatalf("task %q deleted=%v, want %q deleted=%v", row.TaskDescription, row.Deleted, c.wantTask.DBText, c.deleted)
			}
			f, err := e.db.GetFault(ctx, c.id)
			if c.wantFault == "" {
				if err == nil && f.Message != "" && !c.deleted {
					t.Fatalf("unexpected fault %q", f.Message)
				}
				return
			}
			if err != nil || !strings.Contains(f.Message+f.Details, c.wantFault) {
				t.Fatalf("fault %+v %v, want %q", f, err, c.wantFault)
			}
		})
	}
}

// trove-api's casts (secure RPC) reach the manager's handlers, which run the flows in the background.
func TestCastsRunFlows(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.m.Config.AgentCallHigh = time.Second // the idle guest never answers pre_upgrade
	ctx := context.Background()
	const key = "bzH6y0SGmjuoY0FNSTptrhgieGXNDX6PIhvz"
	topic := "taskmanager-" + e.exchange
	srv := e.tr.NewServer(rpc.ServerConfig{Topic: topic, Server: "0.0.0.0", Version: taskapi.Version, Codec: rpc.TroveCodec(key)})
	e.m.Register(srv)
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(ctx) //nolint:errcheck
	api := taskapi.NewClient(e.tr.Client(taskapi.Target(topic), rpc.TroveCodec(key)))

	bad := e.instance("cast-bad-image", "")
	if err := api.CreateInstance(ctx, rc, createArgs(bad, "no-such-image")); err != nil {
		t.Fatal(err)
	}
	gone := e.instance("cast-delete", "")
	if err := e.db.SetTask(ctx, gone.ID, status.TaskDeleting); err != nil {
		t.Fatal(err)
	}
	if err := api.DeleteInstance(ctx, rc, taskapi.DeleteInstanceArgs{InstanceID: gone.ID}); err != nil {
		t.Fatal(err)
	}
	upg := e.instance("cast-upgrade", "")
	if err := e.db.SetTask(ctx, upg.ID, status.TaskUpgrading); err != nil {
		t.Fatal(err)
	}
	if err := api.Upgrade(ctx, rc, taskapi.UpgradeArgs{InstanceID: upg.ID, DatastoreVersionID: e.version.ID}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "create failed with 81", func() bool { return e.get(bad.ID).Task() == status.TaskBuildingErrorServer })
	waitFor(t, "instance deleted", func() bool { return e.get(gone.ID).Deleted })
	waitFor(t, "upgrade failed with 81", func() bool { return e.get(upg.ID).Task() == status.TaskBuildingErrorServer })
	if f := e.fault(upg.ID); !strings.Contains(f, "preparing the guest for the upgrade") {
		t.Fatalf("upgrade fault %q", f)
	}
}

// A delete cast while the build waits for its guest is queued behind it; the build notices the task change and
// ends, then the delete removes server, volume and row.
func TestDeleteWhileBuilding(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	in := e.instance("db-delete-early", catalog.EnvelopeAEAD)
	e.m.Go(in.ID, "create", func(ctx context.Context) error { return e.m.CreateInstance(ctx, rc, createArgs(in, "mariadb-local")) })
	waitFor(t, "server recorded", func() bool { return e.get(in.ID).ComputeInstanceID != "" })
	if err := e.db.SetTask(ctx, in.ID, status.TaskDeleting); err != nil {
		t.Fatal(err)
	}
	e.m.Go(in.ID, "delete", func(ctx context.Context) error { return e.m.DeleteInstance(ctx, rc, in.ID) })
	e.m.Wait()
	row := e.get(in.ID)
	if !row.Deleted {
		t.Fatalf("not deleted: task %q", row.TaskDescription)
	}
	if _, err := e.drv.GetServer(ctx, row.ComputeInstanceID); err == nil {
		t.Fatal("server left behind")
	}
	if f, err := e.db.GetFault(ctx, in.ID); err == nil && f.Message != "" {
		t.Fatalf("the interrupted build recorded a fault: %q", f.Message)
	}
}

// The sweep fails builds nobody is running past their deadline and retries stopped deletes; instances with a
// running flow are left alone.
func TestSweep(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	lost := e.instance("lost-build", "")
	busy := e.instance("busy-build", "")
	stuck := e.instance("stuck-delete", "")
	if err := e.db.SetTask(ctx, stuck.ID, status.TaskDeleting); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	e.m.Go(busy.ID, "pretend build", func(context.Context) error { <-release; return nil })

	// Nothing is due yet.
	if err := e.m.SweepOnce(ctx); err != nil {
		t.Fatal(err)
	}
	close(release)
	e.m.Wait()
	for _, id := range []string{lost.ID, busy.ID} {
		if row := e.get(id); row.Task() != status.TaskBuilding {
			t.Fatalf("%s swept early: %q", row.Name, row.TaskDescription)
		}
	}
	if e.get(stuck.ID).Deleted {
		t.Fatal("delete retried before DeleteRetryAfter")
	}

	e.clock.advance(31 * time.Minute)
	release = make(chan struct{})
	e.m.Go(busy.ID, "pretend build", func(context.Context) error { <-release; return nil })
	if err := e.m.SweepOnce(ctx); err != nil {
		t.Fatal(err)
	}
	close(release)
	e.m.Wait()
	if row := e.get(lost.ID); row.Task() != status.TaskBuildingErrorTimeoutGA || e.guestStatus(lost.ID) != "guestagent error" {
		t.Fatalf("lost build: task %q status %q", row.TaskDescription, e.guestStatus(lost.ID))
	}
	if row := e.get(busy.ID); row.Task() != status.TaskBuilding {
		t.Fatalf("build with a running flow was swept: %q", row.TaskDescription)
	}
	if !e.get(stuck.ID).Deleted {
		t.Fatal("stopped delete not retried")
	}
}

// A guest that dies at start fails the build at once instead of after usage_timeout.
func TestGuestCrashFailsBuild(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "crashing-guest")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho 'bad config' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOpts{guestBinary: bin})
	in := e.instance("db-crash", "")
	if err := e.m.CreateInstance(context.Background(), rc, createArgs(in, "mariadb-local")); err == nil {
		t.Fatal("create with a crashing guest succeeded")
	}
	if row := e.get(in.ID); row.Task() != status.TaskBuildingErrorTimeoutGA {
		t.Fatalf("task %q", row.TaskDescription)
	}
	if f := e.fault(in.ID); !strings.Contains(f, "SHUTOFF") || !strings.Contains(f, "guest.log") {
		t.Fatalf("fault %q", f)
	}
}
