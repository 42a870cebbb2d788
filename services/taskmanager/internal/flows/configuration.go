package flows

import (
	"context"
	"errors"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
)

// UpdateOverrides pushes the instance's configuration group to its guest (attach, detach, a changed group):
// the API has recorded the group (configuration_id; none = detached) and set the task UPDATING. The guest
// writes the overrides file (update_overrides; remove when detached), then puts what it can in force at once
// (apply_overrides: dynamic values, and the defaults of names no longer set). The task ends RESTART_REQUIRED
// when something waits for a restart — as our guest reports it, or for Trove's guest (which does not say) when
// the group has a parameter whose rule needs a restart — else NONE. Safe to repeat: a resumed flow pushes the
// row's group again.
func (m *Manager) UpdateOverrides(ctx context.Context, rc rpc.Context, id string) error {
	log := m.log(id)
	inst, err := m.Catalog.GetInstance(ctx, id)
	if err != nil {
		return err
	}
	if inst.Task() != status.TaskUpdating {
		log.WithField("task", inst.Task().Action).Warn("update_overrides for an instance that is not updating; ignored")
		return nil
	}
	overrides, rulesRestart := map[string]any{}, false
	if inst.ConfigurationID != "" {
		if overrides, rulesRestart, err = m.Catalog.ConfigurationOverrides(ctx, inst.ConfigurationID, inst.DatastoreVersionID); err != nil {
			return err
		}
	}
	guest, _, err := m.guest(ctx, id)
	if err != nil {
		return m.failOverrides(ctx, id, status.TaskNone, "Error reading the instance's RPC key.", err)
	}
	err = guest.UpdateOverrides(ctx, rc, guestapi.UpdateOverridesArgs{Overrides: overrides, Remove: inst.ConfigurationID == ""})
	if err != nil {
		return m.failOverrides(ctx, id, status.TaskNone, "Error writing the configuration overrides on the instance.", err)
	}
	// From here the file holds the group: a restart puts it in force whatever happens next.
	res, err := guest.ApplyOverrides(ctx, rc, guestapi.ApplyOverridesArgs{Overrides: overrides})
	if err != nil {
		return m.failOverrides(ctx, id, status.TaskRestartRequired, "Error applying the configuration overrides; restart the instance to apply them.", err)
	}
	next := status.TaskNone
	if res != nil && res.RestartRequired || res == nil && rulesRestart {
		next = status.TaskRestartRequired
	}
	if _, err := m.Catalog.SetTaskIf(ctx, id, status.TaskUpdating, next); err != nil {
		return err
	}
	fields := log.WithField("configuration_id", inst.ConfigurationID).WithField("task", next.Action)
	if res != nil {
		fields = fields.WithField("pending", res.Pending)
	}
	fields.Info("configuration overrides pushed")
	return nil
}

// failOverrides records the fault and moves the task from UPDATING to `to` (a shutdown leaves it: resumed).
func (m *Manager) failOverrides(ctx context.Context, id string, to status.InstanceTask, message string, cause error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	ctx = context.WithoutCancel(ctx)
	m.recordFault(ctx, id, message, cause)
	if _, err := m.Catalog.SetTaskIf(ctx, id, status.TaskUpdating, to); err != nil && !errors.Is(err, catalog.ErrNotFound) {
		m.log(id).WithError(err).Error("resetting task")
	}
	return cause
}

// releaseRestartRequired follows a successful restart: the conductor ignores heartbeats while the stored guest
// status is `restart required` (Trove), so one sent just before the restart would stay forever; the status
// becomes `restarting` and the guest's next heartbeat tells the truth.
func (m *Manager) releaseRestartRequired(ctx context.Context, id string) {
	st, err := m.Catalog.GetServiceStatus(ctx, id)
	if err != nil || !st.Status().Same(status.RestartRequired) {
		return
	}
	if err := m.Catalog.SetServiceStatus(context.WithoutCancel(ctx), id, status.Restarting); err != nil {
		m.log(id).WithError(err).Warn("releasing the restart required status")
	}
}

func (m *Manager) registerConfiguration(srv *rpc.Server) {
	rpc.Register(srv, taskapi.MethodUpdateOverrides, func(_ context.Context, rc rpc.Context, a taskapi.UpdateOverridesArgs) (rpc.Void, error) {
		m.Go(a.InstanceID, "update_overrides", func(ctx context.Context) error { return m.UpdateOverrides(ctx, rc, a.InstanceID) })
		return rpc.Void{}, nil
	})
}
