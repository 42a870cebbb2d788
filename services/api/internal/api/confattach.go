package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
	"github.com/trove-go/trove/services/api/internal/fault"
)

// configurationChange is a checked attach (ID set) or detach (ID "") of an instance's configuration group.
type configurationChange struct {
	ID string
}

// checkConfigurationChange validates PUT/PATCH /instances/{id} "configuration" as Trove's attach_configuration
// and detach_configuration do; nothing is written. ref nil is a detach (also the empty body). A detach with no
// group attached is nothing to do (nil change).
func (a *API) checkConfigurationChange(ctx context.Context, rc *requestContext, row *catalog.Instance, ref *string) (*configurationChange, error) {
	if ref == nil {
		if row.ConfigurationID == "" {
			return nil, nil
		}
		return &configurationChange{}, a.checkAssignable(row)
	}
	if row.ConfigurationID != "" {
		return nil, fault.BadRequest("Instance %s already has a Configuration Group attached: %s.", row.ID, row.ConfigurationID)
	}
	if err := a.checkAssignable(row); err != nil {
		return nil, err
	}
	c, err := a.findConfiguration(ctx, rc, *ref, row.DatastoreVersionID)
	if err != nil {
		return nil, err
	}
	return &configurationChange{ID: c.ID}, nil
}

// findConfiguration is Trove's Configuration.find: the caller's group (any for admins) of the instance's
// datastore version.
func (a *API) findConfiguration(ctx context.Context, rc *requestContext, id, versionID string) (*catalog.Configuration, error) {
	c, err := a.cat.GetConfiguration(ctx, id)
	if errors.Is(err, catalog.ErrNotFound) || err == nil && !rc.IsAdmin && c.TenantID != rc.Token.ProjectID {
		return nil, fault.New(http.StatusNotFound, "Configuration group id: %s could not be found.", id)
	}
	if err != nil {
		return nil, err
	}
	if c.DatastoreVersionID != versionID {
		return nil, fault.BadRequest("Datastore Version on Configuration %s does not match the Datastore Version on the instance %s.",
			c.DatastoreVersionID, versionID)
	}
	return &c, nil
}

// checkAssignable is Trove's _validate_can_perform_assign: the server ACTIVE and no task.
func (a *API) checkAssignable(row *catalog.Instance) error {
	st := serverStatus(row)
	if st == status.StatusActive && row.Task() != status.TaskNone {
		st = row.Task().Action
	}
	if st != status.StatusActive {
		return fault.BadRequest("The operation you have requested cannot be executed because the instance status is currently: %s.", st)
	}
	return nil
}

// applyConfigurationChange records the group (or its removal) with the task UPDATING, hands the push to the
// taskmanager (update_overrides) and waits for it, so the values are in force when the request returns, as
// with Trove's synchronous guest calls.
func (a *API) applyConfigurationChange(ctx context.Context, rc *requestContext, row *catalog.Instance, ch *configurationChange) error {
	task := status.TaskUpdating
	id := ch.ID
	what, class, traits := "attach", "DBaaSInstanceAttachConfiguration", map[string]any{"instance_id": row.ID, "configuration_id": id}
	if id == "" {
		what, class, traits = "detach", "DBaaSInstanceDetachConfiguration", map[string]any{"instance_id": row.ID}
	}
	return a.notified(ctx, rc, class, traits, func() (map[string]any, error) {
		if err := a.cat.UpdateInstance(ctx, row.ID, catalog.InstanceUpdate{Task: &task, ConfigurationID: &id}); err != nil {
			return nil, err
		}
		rc.logger().WithField("instance_id", row.ID).WithField("configuration_id", id).Infof("configuration %s accepted", what)
		return nil, a.pushOverrides(ctx, rc, []string{row.ID})
	})
}

// pushOverrides casts update_overrides for instances whose task the caller set UPDATING and waits until every
// flow ended (bounded by agent_call_high_timeout plus a margin; the flows go on after that).
func (a *API) pushOverrides(ctx context.Context, rc *requestContext, ids []string) error {
	for _, id := range ids {
		if err := a.tm.UpdateOverrides(ctx, rc.rpcContext(), taskapi.UpdateOverridesArgs{InstanceID: id}); err != nil {
			task := status.TaskNone
			_ = a.cat.UpdateInstance(context.WithoutCancel(ctx), id, catalog.InstanceUpdate{Task: &task})
			return fmt.Errorf("casting update_overrides for %s: %w", id, err)
		}
	}
	high := a.cfg.AgentCallHigh
	if high <= 0 {
		high = guestapi.DefaultHighTimeout
	}
	deadline := time.Now().Add(2*high + 10*time.Second)
	for _, id := range ids {
		for {
			row, err := a.cat.GetInstance(ctx, id)
			if err != nil || row.Task() != status.TaskUpdating {
				break
			}
			if time.Now().After(deadline) {
				rc.logger().WithField("instance_id", id).Warn("configuration push still running; answering before it ends")
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// refreshConfiguration re-applies a changed group to every live instance of the caller's project using it
// (Trove's _refresh_on_all_instances; clusters have none here).
func (a *API) refreshConfiguration(ctx context.Context, rc *requestContext, c *catalog.Configuration) error {
	var ids []string
	marker := ""
	for {
		rows, next, err := a.cat.ConfigurationInstances(ctx, c.ID, rc.Token.ProjectID, 100, marker)
		if err != nil {
			return err
		}
		for i := range rows {
			if rows[i].ClusterID != "" {
				continue
			}
			// Only an instance at rest takes the push now: a build reads the group when it prepares, and a
			// task in flight (reboot, resize, delete …) must not be overwritten.
			swapped := false
			for _, from := range []status.InstanceTask{status.TaskNone, status.TaskRestartRequired} {
				ok, err := a.cat.SetTaskIf(ctx, rows[i].ID, from, status.TaskUpdating)
				if err != nil && !errors.Is(err, catalog.ErrNotFound) {
					return err
				}
				if swapped = ok; ok {
					break
				}
			}
			if !swapped {
				rc.logger().WithField("instance_id", rows[i].ID).WithField("task", rows[i].Task().Action).
					Warn("configuration group changed while the instance is busy; it gets the change at its next push")
				continue
			}
			ids = append(ids, rows[i].ID)
		}
		if next == "" {
			break
		}
		marker = next
	}
	if len(ids) == 0 {
		return nil
	}
	rc.logger().WithField("configuration_id", c.ID).WithField("instances", len(ids)).Info("re-applying configuration group")
	return a.pushOverrides(ctx, rc, ids)
}

// instanceConfiguration is GET /instances/{id}/configuration (Trove's "configuration default"): the settings
// the instance's server runs with — the guest's base settings, then the attached group's values.
func (a *API) instanceConfiguration(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	ctx := r.Context()
	row, err := a.loadInstance(ctx, rc, "instance:configuration", mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	ver, err := a.cat.GetVersion(ctx, row.DatastoreVersionID)
	if err != nil {
		return err
	}
	out := map[string]any{}
	for k, v := range guestapi.BaseConfiguration(ver.Manager) {
		out[k] = v
	}
	if row.ConfigurationID != "" {
		values, _, err := a.cat.ConfigurationOverrides(ctx, row.ConfigurationID, row.DatastoreVersionID)
		if err != nil {
			return err
		}
		for k, v := range values {
			out[k] = v
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"instance": map[string]any{"configuration": out}})
}

// createWithConfiguration checks `configuration` of a create request (Trove's Configuration.find: the caller's
// group, of the instance's datastore version) and returns its overrides for create_instance; "" is none.
func (a *API) createWithConfiguration(ctx context.Context, rc *requestContext, ref, versionID string) (map[string]any, error) {
	if ref == "" {
		return map[string]any{}, nil
	}
	c, err := a.findConfiguration(ctx, rc, ref, versionID)
	if err != nil {
		return nil, err
	}
	overrides, _, err := a.cat.ConfigurationOverrides(ctx, c.ID, versionID)
	return overrides, err
}
