package flows

import (
	"context"
	"errors"
	"fmt"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/notification"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
)

// ResizeFlavor gives an instance another flavor (states.md §5): the API checked it, charged the RAM quota
// difference and set the task RESIZING. Guest stop_db, the driver's ResizeServer (the local driver: the new
// RAM as the memory limit of the instance's processes), guest start_db_with_conf_changes with the
// configuration rendered for the new flavor (memory-derived settings, renderConfig), then the catalog's
// flavor_id; task NONE. On a failure after stop_db the old flavor is put back (server, guest configuration,
// database started), the quota difference returned and a fault recorded; the task is NONE in every case.
// Resumable: a server already on the new flavor is finished by resumeResize.
func (m *Manager) ResizeFlavor(ctx context.Context, rc rpc.Context, a taskapi.ResizeFlavorArgs) error {
	id := a.InstanceID
	inst, err := m.Catalog.GetInstance(ctx, id)
	if err != nil {
		return err
	}
	if inst.Task() != status.TaskResizing {
		m.log(id).WithField("task", inst.Task().Action).Warn("resize_flavor for an instance that is not resizing; ignored")
		return nil
	}
	defer m.resetTask(ctx, id, status.TaskResizing)
	resizer, ok := m.Compute.(compute.Resizer)
	if !ok {
		return m.resizeFailed(ctx, inst, a, "Error resizing the instance.", errors.New("the compute driver cannot resize servers"))
	}
	ver, err := m.Catalog.GetVersion(ctx, inst.DatastoreVersionID)
	if err != nil {
		return m.resizeFailed(ctx, inst, a, "Error resizing the instance.", err)
	}
	guest, _, err := m.guest(ctx, id)
	if err != nil {
		return m.resizeFailed(ctx, inst, a, "Error reading the instance's RPC key.", err)
	}
	if err := guest.StopDB(ctx, rc); err != nil {
		return m.resizeFailed(ctx, inst, a, "Error stopping the database before the resize.", err)
	}
	newFlavor := computeFlavor(a.NewFlavor)
	if err := m.retry(ctx, id, "resizing the server", func() error { return resizer.ResizeServer(ctx, inst.ComputeInstanceID, newFlavor) }); err != nil {
		m.revertResize(ctx, rc, inst, ver, a, resizer, guest, false)
		return m.resizeFailed(ctx, inst, a, "Error resizing the server.", err)
	}
	if err := m.startWithFlavor(ctx, rc, guest, ver, a.NewFlavor.RAM); err != nil {
		m.revertResize(ctx, rc, inst, ver, a, resizer, guest, true)
		return m.resizeFailed(ctx, inst, a, "Error starting the database with the new flavor's configuration.", err)
	}
	if err := m.finishFlavor(ctx, id, a.NewFlavor.ID); err != nil {
		return err
	}
	now := notification.Isotime(m.TimeNow())
	resized := inst
	resized.FlavorID = a.NewFlavor.ID
	m.usage(ctx, rc, resized, notification.EventModifyFlavor, status.StatusActive, map[string]any{
		"old_instance_size": a.OldFlavor.RAM, "instance_size": a.NewFlavor.RAM, "launched_at": now, "modify_at": now})
	return nil
}

// startWithFlavor is guest start_db_with_conf_changes with the configuration rendered for ramMB.
func (m *Manager) startWithFlavor(ctx context.Context, rc rpc.Context, guest *guestapi.Client, ver catalog.DatastoreVersion, ramMB int) error {
	version := ver.Version
	return guest.StartDBWithConfChanges(ctx, rc, guestapi.StartDBWithConfChangesArgs{
		ConfigContents: renderConfig(ver.Manager, ramMB), DSVersion: &version})
}

// finishFlavor records the new flavor; the deferred resetTask ends RESIZING.
func (m *Manager) finishFlavor(ctx context.Context, id, flavorID string) error {
	if err := m.retry(ctx, id, "recording the new flavor", func() error {
		return m.Catalog.UpdateInstance(ctx, id, catalog.InstanceUpdate{FlavorID: &flavorID})
	}); err != nil {
		return err
	}
	m.log(id).WithField("flavor_id", flavorID).Info("instance resized to a new flavor")
	return nil
}

// revertResize puts the old flavor back after a failed resize (Trove: reset_configuration, Nova revert, guest
// restart): server flavor (when it was changed), the guest's flavor settings, the database started. Failures
// are logged; the fault of the resize is what the owner sees.
func (m *Manager) revertResize(ctx context.Context, rc rpc.Context, inst catalog.Instance, ver catalog.DatastoreVersion,
	a taskapi.ResizeFlavorArgs, resizer compute.Resizer, guest *guestapi.Client, serverChanged bool) {
	ctx = context.WithoutCancel(ctx)
	log := m.log(inst.ID)
	if serverChanged {
		if err := resizer.ResizeServer(ctx, inst.ComputeInstanceID, computeFlavor(a.OldFlavor)); err != nil {
			log.WithError(err).Error("reverting the server to the old flavor")
		}
	}
	old := renderConfig(ver.Manager, a.OldFlavor.RAM)
	args := guestapi.ResetConfigurationArgs{}
	args.Configuration.ConfigContents = &old
	if err := guest.ResetConfiguration(ctx, rc, args); err != nil {
		log.WithError(err).Warn("reset_configuration after a failed resize")
	}
	if err := guest.Restart(ctx, rc); err != nil {
		log.WithError(err).Error("restarting the database after a failed resize")
	}
}

// resizeFailed records the fault and gives back the RAM quota the API charged for the new flavor.
func (m *Manager) resizeFailed(ctx context.Context, inst catalog.Instance, a taskapi.ResizeFlavorArgs, message string, cause error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", message, ctx.Err())
	}
	ctx = context.WithoutCancel(ctx)
	m.recordFault(ctx, inst.ID, message, cause)
	if delta := a.OldFlavor.RAM - a.NewFlavor.RAM; delta != 0 {
		unlimited := catalog.Defaults{Instances: -1, RAM: -1, Volumes: -1, Backups: -1}
		if err := m.Catalog.ChangeUsage(ctx, inst.TenantID, map[string]int{catalog.ResourceRAM: delta}, unlimited); err != nil {
			m.log(inst.ID).WithError(err).Error("returning the RAM quota of a failed resize")
		}
	}
	return cause
}

func computeFlavor(f taskapi.Flavor) compute.Flavor {
	return compute.Flavor{ID: f.ID, Name: f.Name, RAM: f.RAM, VCPUs: f.VCPUs, Disk: f.Disk}
}

// resumeFlavor finishes a flavor resize a previous taskmanager left after the server got its new flavor (the
// driver reports a flavor other than the row's): the database is started with the new flavor's configuration
// and the flavor recorded. ok is false when the server shows no flavor change.
func (m *Manager) resumeFlavor(ctx context.Context, rc rpc.Context, inst catalog.Instance) (ok bool, err error) {
	if inst.ComputeInstanceID == "" {
		return false, nil
	}
	srv, err := m.Compute.GetServer(ctx, inst.ComputeInstanceID)
	if err != nil || srv.FlavorID == "" || srv.FlavorID == inst.FlavorID {
		return false, nil
	}
	fl, err := m.Compute.GetFlavor(ctx, srv.FlavorID)
	if err != nil {
		return true, err
	}
	ver, err := m.Catalog.GetVersion(ctx, inst.DatastoreVersionID)
	if err != nil {
		return true, err
	}
	guest, _, err := m.guest(ctx, inst.ID)
	if err == nil {
		err = m.startWithFlavor(ctx, rc, guest, ver, fl.RAM)
	}
	if err != nil {
		m.recordFault(ctx, inst.ID, "Error starting the database with the new flavor's configuration.", err)
		return true, err
	}
	return true, m.finishFlavor(ctx, inst.ID, fl.ID)
}

func (m *Manager) registerResize(srv *rpc.Server) {
	rpc.Register(srv, taskapi.MethodResizeFlavor, func(_ context.Context, rc rpc.Context, a taskapi.ResizeFlavorArgs) (rpc.Void, error) {
		m.Go(a.InstanceID, "resize_flavor", m.ending(&rc, a.InstanceID, func(ctx context.Context) error { return m.ResizeFlavor(ctx, rc, a) }))
		return rpc.Void{}, nil
	})
	rpc.Register(srv, taskapi.MethodUpdateAccess, func(_ context.Context, rc rpc.Context, a taskapi.UpdateAccessArgs) (rpc.Void, error) {
		m.Go(a.InstanceID, "update_access", func(ctx context.Context) error { return m.UpdateAccess(ctx, a.InstanceID) })
		return rpc.Void{}, nil
	})
}
