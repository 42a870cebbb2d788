package flows

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/notification"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
)

// DeleteInstance removes an instance (states.md §5): guest stop_db (errors ignored), server, volume, then the
// catalog's DeleteInstance (soft delete, status `deleted`, quota release). Safe to repeat.
func (m *Manager) DeleteInstance(ctx context.Context, rc rpc.Context, id string) error {
	log := m.log(id)
	inst, err := m.Catalog.GetInstance(ctx, id)
	if errors.Is(err, catalog.ErrNotFound) {
		log.Info("instance already deleted")
		return nil
	}
	if err != nil {
		return err
	}
	serverID := inst.ComputeInstanceID
	if serverID != "" {
		// Only a running server has a guest to answer stop_db; asking a dead one costs agent_call_low_timeout.
		if srv, err := m.Compute.GetServer(ctx, serverID); err == nil && srv.Status == compute.ServerActive {
			if guest, _, err := m.guest(ctx, id); err == nil {
				if err := guest.StopDB(ctx, rc); err != nil {
					log.WithError(err).Info("stop_db before delete failed (ignored)")
				}
			}
		}
	} else {
		// A crash between creating the server and recording it leaves no id; the local driver's server id is
		// the instance id, the openstack driver finds the server tagged with it.
		serverID = id
	}
	if err := m.retry(ctx, id, "deleting server", func() error { return ignoreNotFound(m.Compute.DeleteServer(ctx, serverID)) }); err != nil {
		m.recordFault(ctx, id, "Error deleting the instance's server.", err)
		return err
	}
	// The guest is gone: its topic queues would stay on the broker forever (its fanout queue goes with it, rpc.md).
	if err := m.Transport.DeleteQueues(ctx, rpc.ServerQueues(guestapi.Topic(id), id)...); err != nil {
		log.WithError(err).Warn("deleting the guest's queues failed; they stay on the broker")
	}
	if err := m.revokeGuestAccount(ctx, id); err != nil {
		m.recordFault(ctx, id, "Error removing the guest's broker account.", err)
		return err
	}
	if inst.VolumeID != "" {
		if err := m.retry(ctx, id, "deleting volume", func() error { return ignoreNotFound(m.Compute.DeleteVolume(ctx, inst.VolumeID)) }); err != nil {
			m.recordFault(ctx, id, "Error deleting the instance's volume.", err)
			return err
		}
	}
	ram := 0
	if fl, err := m.Compute.GetFlavor(ctx, inst.FlavorID); err == nil {
		ram = fl.RAM
	} else {
		log.WithError(err).Warn("flavor unknown at delete; RAM quota not released")
	}
	deletedAt := m.TimeNow()
	if err := m.retry(ctx, id, "deleting the catalog row", func() error { return m.Catalog.DeleteInstance(ctx, id, ram) }); err != nil {
		return err
	}
	m.usage(ctx, rc, inst, notification.EventDelete, status.StatusShutdown, map[string]any{"deleted_at": notification.Isotime(deletedAt)})
	log.Info("instance deleted")
	return nil
}

func ignoreNotFound(err error) error {
	if errors.Is(err, compute.ErrNotFound) {
		return nil
	}
	return err
}

// Restart asks the guest to restart its database (call, agent_call_high_timeout) and always resets the task.
func (m *Manager) Restart(ctx context.Context, rc rpc.Context, id string) error {
	defer m.resetTask(ctx, id, status.TaskRebooting)
	guest, _, err := m.guest(ctx, id)
	if err == nil {
		err = guest.Restart(ctx, rc)
	}
	if err != nil {
		m.recordFault(ctx, id, "Error restarting the database.", err)
		return err
	}
	m.releaseRestartRequired(ctx, id)
	return nil
}

// resetTask sets the task back to NONE if it is still `from`.
func (m *Manager) resetTask(ctx context.Context, id string, from status.InstanceTask) {
	if _, err := m.Catalog.SetTaskIf(context.WithoutCancel(ctx), id, from, status.TaskNone); err != nil && !errors.Is(err, catalog.ErrNotFound) {
		m.log(id).WithError(err).Error("resetting task")
	}
}

// ResizeVolume grows the volume online: compute extend, catalog volume_size, guest resize_fs; task NONE at the
// end in every case.
func (m *Manager) ResizeVolume(ctx context.Context, rc rpc.Context, id string, newSize int) error {
	defer m.resetTask(ctx, id, status.TaskResizing)
	inst, err := m.Catalog.GetInstance(ctx, id)
	if err != nil {
		return err
	}
	if inst.VolumeID == "" {
		err := fmt.Errorf("instance %s has no volume", id)
		m.recordFault(ctx, id, "Error resizing the volume.", err)
		return err
	}
	if newSize < inst.VolumeSize {
		err := fmt.Errorf("new size %d GB is smaller than the current %d GB", newSize, inst.VolumeSize)
		m.recordFault(ctx, id, "Error resizing the volume.", err)
		return err
	}
	if err := m.retry(ctx, id, "extending volume", func() error { return m.Compute.ExtendVolume(ctx, inst.VolumeID, newSize) }); err != nil {
		m.recordFault(ctx, id, "Error extending the volume.", err)
		return err
	}
	return m.finishResize(ctx, rc, inst, newSize)
}

// finishResize records the new size and grows the guest's filesystem.
func (m *Manager) finishResize(ctx context.Context, rc rpc.Context, inst catalog.Instance, newSize int) error {
	id := inst.ID
	if err := m.Catalog.SetVolumeSize(ctx, id, newSize); err != nil {
		return err
	}
	guest, _, err := m.guest(ctx, id)
	if err == nil {
		device, mount := "/dev/vdb", ""
		if ver, verr := m.Catalog.GetVersion(ctx, inst.DatastoreVersionID); verr == nil {
			mount = mountPoints[ver.Manager]
		}
		err = guest.ResizeFS(ctx, rc, guestapi.ResizeFSArgs{DevicePath: &device, MountPoint: &mount, Online: true})
	}
	if err != nil {
		if serr := m.Catalog.SetServiceStatus(context.WithoutCancel(ctx), id, status.Failed); serr != nil {
			m.log(id).WithError(serr).Error("setting failed status")
		}
		m.recordFault(ctx, id, "Error resizing the filesystem after the volume was extended.", err)
		return err
	}
	m.log(id).WithField("size_gb", newSize).Info("volume resized")
	now := notification.Isotime(m.TimeNow())
	resized := inst
	resized.VolumeSize = newSize
	m.usage(ctx, rc, resized, notification.EventModifyVolume, status.StatusActive,
		map[string]any{"old_volume_size": inst.VolumeSize, "launched_at": now, "modify_at": now})
	return nil
}

// UpgradeTimeout is how long an upgrade waits for the guest to run the new version (Trove's 600 s).
const UpgradeTimeout = 600 * time.Second

// Upgrade moves an instance to another datastore version (states.md §5): status `upgrading`, guest
// pre_upgrade, then — secure RPC on and the instance keyless (a legacy guest) — a fresh key is stored, the
// server is rebuilt from the new version's image with a new guest_info.conf (carrying the key; the local driver
// restarts the guest and its database server from the new binaries and keeps the data directory), guest
// post_upgrade (under the new key), then wait until a heartbeat after the rebuild says healthy and the guest
// reports the new version; task NONE. Any failure → task 81 with a fault. Every step is safe to repeat (Resume).
func (m *Manager) Upgrade(ctx context.Context, rc rpc.Context, a taskapi.UpgradeArgs) error {
	return m.upgrade(ctx, rc, a, false)
}

// upgrade is Upgrade; resumed (after a taskmanager restart) tolerates a guest that does not answer pre_upgrade:
// the previous run may have stopped between giving the instance its key and the rebuild, leaving a plaintext
// guest the control plane now addresses encrypted — the rebuild below fixes exactly that.
func (m *Manager) upgrade(ctx context.Context, rc rpc.Context, a taskapi.UpgradeArgs, resumed bool) error {
	id := a.InstanceID
	inst, err := m.Catalog.GetInstance(ctx, id)
	if err != nil {
		return err
	}
	if inst.Task() != status.TaskUpgrading {
		m.log(id).WithField("task", inst.Task().Action).Warn("upgrade for an instance that is not upgrading; ignored")
		return nil
	}
	fail := func(msg string, err error) error {
		return m.failTask(ctx, id, status.TaskUpgrading, status.TaskBuildingErrorServer, msg, err)
	}
	ver, err := m.Catalog.GetVersion(ctx, a.DatastoreVersionID)
	if err != nil {
		return fail("Error reading the new datastore version.", err)
	}
	// The row names the target version from now on (Trove's API does this before casting; resuming relies on it).
	if inst.DatastoreVersionID != ver.ID {
		if err := m.Catalog.SetDatastoreVersion(ctx, id, ver.ID); err != nil {
			return err
		}
		inst.DatastoreVersionID = ver.ID
	}
	if err := m.Catalog.SetServiceStatus(ctx, id, status.Upgrading); err != nil {
		return err
	}
	guest, _, err := m.guest(ctx, id)
	if err != nil {
		return fail("Error reading the instance's RPC key.", err)
	}
	info, err := guest.PreUpgrade(ctx, rc)
	if err != nil && resumed {
		m.log(id).WithError(err).Warn("resumed upgrade: pre_upgrade not answered; rebuilding anyway")
		info, err = guestapi.UpgradeInfo{}, nil
	}
	if err != nil {
		return fail("Error preparing the guest for the upgrade.", err)
	}
	if info == nil {
		info = guestapi.UpgradeInfo{}
	}
	info["datastore_version"] = ver.Version

	// A legacy guest gets its key here: the rebuilt guest starts with it.
	if _, err := m.giveKey(ctx, id); err != nil {
		return fail("Error giving the instance an RPC key.", err)
	}
	if err := m.adoptEnvelope(ctx, id); err != nil {
		return fail("Error recording the rebuilt guest's RPC envelope.", err)
	}
	files, err := m.guestFiles(ctx, inst, ver)
	if err != nil {
		return fail("Error rendering the guest's files for the new version.", err)
	}
	if err := m.retry(ctx, id, "rebuilding the server", func() error {
		return m.Compute.RebuildServer(ctx, inst.ComputeInstanceID, ver.ImageID, files)
	}); err != nil {
		return fail("Error rebuilding the server from the new version's image.", err)
	}
	// The old guest is gone: only the rebuilt one can report healthy from here on.
	if err := m.Catalog.SetServiceStatus(ctx, id, status.Upgrading); err != nil {
		return err
	}
	if guest, _, err = m.guest(ctx, id); err != nil {
		return fail("Error reading the instance's RPC key.", err)
	}
	deadline := m.TimeNow().Add(UpgradeTimeout)
	poll := min(m.Config.UsageSleepTime, 500*time.Millisecond)
	// post_upgrade: the rebuilt guest serves RPC as soon as it starts; retry until it answers.
	for {
		err := guest.PostUpgrade(ctx, rc, guestapi.UpgradeArgs{UpgradeInfo: info})
		if err == nil {
			break
		}
		if !m.TimeNow().Before(deadline) {
			return fail("Error finishing the upgrade on the guest (post_upgrade).", err)
		}
		m.log(id).WithError(err).Info("post_upgrade not answered yet; retrying")
		if err := sleep(ctx, poll); err != nil {
			return err
		}
	}
	for {
		st, err := m.Catalog.GetServiceStatus(ctx, id)
		if err == nil && (st.Status() == status.Healthy || st.Status() == status.Running) {
			now, cerr := guest.PreUpgrade(ctx, rc)
			if cerr == nil && now["datastore_version"] == ver.Version {
				if err := m.retry(ctx, id, "finishing the upgrade", func() error {
					_, err := m.Catalog.SetTaskIf(ctx, id, status.TaskUpgrading, status.TaskNone)
					return err
				}); err != nil {
					return err
				}
				m.log(id).WithField("datastore_version", ver.Version).Info("instance upgraded")
				return nil
			}
		}
		if !m.TimeNow().Before(deadline) {
			return fail(fmt.Sprintf("The guest did not run version %s healthily within %s.", ver.Version, UpgradeTimeout), err)
		}
		if err := sleep(ctx, poll); err != nil {
			return err
		}
	}
}

// Resume picks up every flow a previous taskmanager left unfinished (called once at start):
//   - BUILDING with a guest that already reported something → keep waiting until created + usage_timeout;
//     still `new` (after a short grace when a server exists) → the create arguments (users, passwords) were not
//     persisted, so fail with a fault.
//   - DELETING → delete again (idempotent).
//   - REBOOTING → restart again.
//   - RESIZING → finish a flavor resize whose server already has the new flavor, or a volume resize whose
//     volume already has the new size; else start the database (an interrupted flavor resize may have stopped
//     it) and reset with a fault.
//   - UPGRADING → upgrade again to the row's (already new) datastore version; every step is idempotent.
//   - DETACHING → detach again (repeatable); PROMOTING / EJECTING with a recorded change (replication_changes) →
//     the change finished (resumeReplicationChange); without one (another taskmanager's, or older) → NONE with
//     a fault asking to check the roles.
//   - UPDATING → apply the row's access again, then push its configuration group again (both idempotent: the
//     access and the configuration flows share the task; resumeUpdating).
//   - a key rotation with a previous key still on record → FinishRotations.
func (m *Manager) Resume(ctx context.Context) error {
	rows, err := m.Catalog.InstancesWithTask(ctx, status.TaskBuilding, status.TaskDeleting, status.TaskRebooting, status.TaskResizing,
		status.TaskUpgrading, status.TaskUpdating, status.TaskPromoting, status.TaskEjecting, status.TaskDetaching)
	if err != nil {
		return err
	}
	rc := rpc.Context{RequestID: "req-taskmanager-resume"}
	changing, err := m.resumeReplicationChanges(ctx, rc)
	if err != nil {
		return err
	}
	for _, inst := range rows {
		inst := inst
		if changing[inst.ID] {
			continue
		}
		log := m.log(inst.ID).WithField("task", inst.Task().Action)
		log.Info("resuming unfinished flow")
		switch inst.Task() {
		case status.TaskBuilding:
			m.Go(inst.ID, "resume create", func(ctx context.Context) error { return m.resumeBuild(ctx, inst) })
		case status.TaskDeleting:
			m.Go(inst.ID, "resume delete", func(ctx context.Context) error { return m.DeleteInstance(ctx, rc, inst.ID) })
		case status.TaskRebooting:
			m.Go(inst.ID, "resume restart", func(ctx context.Context) error { return m.Restart(ctx, rc, inst.ID) })
		case status.TaskResizing:
			m.Go(inst.ID, "resume resize", func(ctx context.Context) error { return m.resumeResize(ctx, rc, inst) })
		case status.TaskUpgrading:
			m.Go(inst.ID, "resume upgrade", func(ctx context.Context) error {
				return m.upgrade(ctx, rc, taskapi.UpgradeArgs{InstanceID: inst.ID, DatastoreVersionID: inst.DatastoreVersionID}, true)
			})
		case status.TaskUpdating:
			m.Go(inst.ID, "resume update", func(ctx context.Context) error { return m.resumeUpdating(ctx, rc, inst) })
		case status.TaskDetaching:
			m.Go(inst.ID, "resume detach", func(ctx context.Context) error { return m.DetachReplica(ctx, rc, inst.ID) })
		case status.TaskEjecting:
			if inst.SlaveOfID != "" && inst.ComputeInstanceID == "" {
				// a failed-over source (fenced, already following the new source) not yet rebuilt as its replica
				m.Go(inst.ID, "resume failover", func(ctx context.Context) error { return m.rebuildAsReplica(ctx, rc, inst, inst.SlaveOfID) })
				continue
			}
			fallthrough
		case status.TaskPromoting:
			// A role change without a record (resumeReplicationChanges took the recorded ones) is not redone:
			// the task goes back to NONE with a fault asking to check the roles.
			m.Go(inst.ID, "resume replication", func(ctx context.Context) error {
				m.recordFault(ctx, inst.ID, "A replication role change was interrupted by a taskmanager restart; check the replication set's roles.", nil)
				m.resetTask(ctx, inst.ID, inst.Task())
				return nil
			})
		}
	}
	if err := m.resumeBackups(ctx); err != nil {
		return err
	}
	return m.FinishRotations(ctx)
}

func (m *Manager) resumeBuild(ctx context.Context, inst catalog.Instance) error {
	rc := rpc.Context{RequestID: "req-taskmanager-resume"}
	if inst.SlaveOfID != "" && inst.ComputeInstanceID == "" {
		// A replica whose build never made its server: the row says what to build (replicaBuildArgs); a snapshot
		// the interrupted build made is dropped, the build makes its own.
		a, err := m.replicaBuildArgs(ctx, inst)
		if err != nil {
			return m.buildTimeout(ctx, inst.ID, "The taskmanager restarted before the replica's server was created, and the replica cannot be rebuilt: "+err.Error())
		}
		m.dropLeftoverSnapshots(ctx, rc, inst)
		return m.CreateInstance(ctx, rc, a)
	}
	st, err := m.Catalog.GetServiceStatus(ctx, inst.ID)
	if err != nil {
		return err
	}
	deadline := inst.Created.Add(m.Config.UsageTimeout)
	if st.Status() == status.New {
		const lost = "The taskmanager restarted before the guest was prepared; the create request is lost. Delete the instance and create it again."
		if inst.ComputeInstanceID == "" {
			return m.buildTimeout(ctx, inst.ID, lost)
		}
		// prepare may have been cast just before the crash and still be on its way: give the guest a short
		// grace to report before declaring the request lost.
		grace := m.TimeNow().Add(2 * m.Config.UsageSleepTime)
		if grace.Before(deadline) {
			deadline = grace
		}
		if err := m.waitActive(ctx, rc, inst.ID, deadline, lost); err != nil || inst.SlaveOfID == "" {
			return err
		}
		return m.resumeReplicaAttach(ctx, rc, inst.ID)
	}
	if err := m.waitActive(ctx, rc, inst.ID, deadline, ""); err != nil || inst.SlaveOfID == "" {
		return err
	}
	return m.resumeReplicaAttach(ctx, rc, inst.ID)
}

func (m *Manager) resumeResize(ctx context.Context, rc rpc.Context, inst catalog.Instance) error {
	defer m.resetTask(ctx, inst.ID, status.TaskResizing)
	if done, err := m.resumeFlavor(ctx, rc, inst); done {
		return err
	}
	if inst.VolumeID != "" {
		vol, err := m.Compute.GetVolume(ctx, inst.VolumeID)
		if err == nil && vol.SizeGB > inst.VolumeSize {
			return m.finishResize(ctx, rc, inst, vol.SizeGB)
		}
	}
	// A flavor resize interrupted between stop_db and the server's resize left the database stopped.
	if guest, _, gerr := m.guest(ctx, inst.ID); gerr == nil {
		if rerr := guest.Restart(ctx, rc); rerr != nil {
			m.log(inst.ID).WithError(rerr).Warn("starting the database after an interrupted resize")
		}
	}
	err := errors.New("the taskmanager restarted during the resize; neither the flavor nor the volume was changed")
	m.recordFault(ctx, inst.ID, "Error resizing the instance.", err)
	return err
}

// DeleteRetryAfter is how long a DELETING instance without a running flow waits before the sweep deletes it
// again (the API's cast is normally handled long before).
const DeleteRetryAfter = time.Minute

// Sweep enforces, every `every` until ctx ends, what a lost flow (a catalog outage, an exhausted retry
// budget) would otherwise leave behind: a build past created + usage_timeout is failed (task 91), and a delete
// that stopped is tried again. Instances with a running flow are left to it.
func (m *Manager) Sweep(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.SweepOnce(ctx); err != nil {
				m.Log.WithError(err).Warn("sweeping unfinished flows")
			}
		}
	}
}

// SweepOnce is one pass of Sweep (and of FinishRotations).
func (m *Manager) SweepOnce(ctx context.Context) error {
	if err := m.FinishRotations(ctx); err != nil {
		return err
	}
	rows, err := m.Catalog.InstancesWithTask(ctx, status.TaskBuilding, status.TaskDeleting)
	if err != nil {
		return err
	}
	now := m.TimeNow()
	rc := rpc.Context{RequestID: "req-taskmanager-sweep"}
	for _, inst := range rows {
		if m.running(inst.ID) {
			continue
		}
		switch {
		case inst.Task() == status.TaskBuilding && !now.Before(inst.Created.Add(m.Config.UsageTimeout)):
			id := inst.ID
			m.Go(id, "expire build", func(ctx context.Context) error {
				return m.buildTimeout(ctx, id, fmt.Sprintf("The build did not finish within usage_timeout (%s).", m.Config.UsageTimeout))
			})
		case inst.Task() == status.TaskDeleting && !now.Before(inst.Updated.Add(DeleteRetryAfter)):
			id := inst.ID
			m.Go(id, "retry delete", func(ctx context.Context) error { return m.DeleteInstance(ctx, rc, id) })
		}
	}
	return nil
}
