package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
	"github.com/trove-go/trove/services/api/internal/fault"
	"github.com/trove-go/trove/services/api/internal/schema"
)

// InstanceChanger is what a flavor resize and an access update ask of the taskmanager (*taskapi.Client has it);
// a TaskManager without it answers those requests with 501.
type InstanceChanger interface {
	ResizeFlavor(ctx context.Context, rc rpc.Context, a taskapi.ResizeFlavorArgs) error
	UpdateAccess(ctx context.Context, rc rpc.Context, a taskapi.UpdateAccessArgs) error
}

// resizeFlavor is the resize action with flavorRef (Trove's Instance.resize_flavor), after the policy,
// cluster and validate_can_perform_action checks: a different flavor that exists, the RAM difference within the
// tenant's quota (max_ram_per_tenant), task RESIZING, cast resize_flavor with both flavors.
func (a *API) resizeFlavor(w http.ResponseWriter, r *http.Request, rc *requestContext, row *catalog.Instance, flavorRef string) error {
	ctx := r.Context()
	changer, ok := a.tm.(InstanceChanger)
	if !ok {
		return fault.NotImplemented("Resizing the flavor is not supported by this deployment.")
	}
	if flavorRef == row.FlavorID {
		return fault.BadRequest("The new flavor id must be different than the current flavor id of '%s'.", row.FlavorID)
	}
	newFlavor, err := a.flavors.GetFlavor(ctx, flavorRef)
	if err != nil {
		return err
	}
	if newFlavor == nil { // Trove's FlavorNotFound: a 400
		return fault.BadRequest("Resource %s cannot be found.", flavorRef)
	}
	oldFlavor, err := a.flavors.GetFlavor(ctx, row.FlavorID)
	if err != nil {
		return err
	}
	if oldFlavor == nil {
		return fault.BadRequest("Resource %s cannot be found.", row.FlavorID)
	}
	// Claim the task first so two concurrent resizes cannot both pass.
	swapped, err := a.cat.SetTaskIf(ctx, row.ID, row.Task(), status.TaskResizing)
	if err != nil {
		return err
	}
	if !swapped {
		return fault.Unprocessable("Instance %s is not currently available for an action to be performed (task status was changed).", row.ID)
	}
	restoreTask := func() {
		if _, err := a.cat.SetTaskIf(context.WithoutCancel(ctx), row.ID, status.TaskResizing, row.Task()); err != nil {
			rc.logger().WithError(err).Error("restoring task after a refused flavor resize")
		}
	}
	delta := newFlavor.RAM - oldFlavor.RAM
	err = a.cat.ChangeUsage(ctx, row.TenantID, map[string]int{catalog.ResourceRAM: delta}, a.cfg.Quotas)
	var qe *catalog.QuotaExceededError
	if err != nil {
		restoreTask()
		if errors.As(err, &qe) {
			return fault.OverLimit("%s", qe.Error())
		}
		return err
	}
	args := taskapi.ResizeFlavorArgs{InstanceID: row.ID,
		OldFlavor: taskapi.Flavor{ID: oldFlavor.ID, Name: oldFlavor.Name, RAM: oldFlavor.RAM, VCPUs: oldFlavor.VCPUs, Disk: oldFlavor.Disk},
		NewFlavor: taskapi.Flavor{ID: newFlavor.ID, Name: newFlavor.Name, RAM: newFlavor.RAM, VCPUs: newFlavor.VCPUs, Disk: newFlavor.Disk}}
	if err := changer.ResizeFlavor(ctx, rc.rpcContext(), args); err != nil {
		restoreTask()
		if uerr := a.cat.ChangeUsage(context.WithoutCancel(ctx), row.TenantID, map[string]int{catalog.ResourceRAM: -delta},
			catalog.Defaults{Instances: -1, RAM: -1, Volumes: -1, Backups: -1}); uerr != nil {
			rc.logger().WithError(uerr).Error("returning the RAM quota after a failed resize_flavor cast")
		}
		return fmt.Errorf("casting resize_flavor for %s: %w", row.ID, err)
	}
	rc.logger().WithField("instance_id", row.ID).WithField("new_flavor_id", newFlavor.ID).Info("flavor resize accepted")
	return writeEmpty(w, http.StatusAccepted)
}

// accessJSON is an access block as the catalog stores it (Trove's instances.access): is_public defaults to
// false, allowed_cidrs to [] (everyone), each CIDR canonical. A CIDR the schema's pattern admits but that is
// no IPv4 network (999.0.0.1/32) is a 400.
func accessJSON(acc *schema.Access) (string, *taskapi.Access, error) {
	out := &taskapi.Access{AllowedCIDRs: []string{}}
	if acc.IsPublic != nil {
		out.IsPublic = *acc.IsPublic
	}
	for _, c := range acc.AllowedCIDRs {
		p, err := taskapi.ParseCIDR(c)
		if err != nil {
			return "", nil, fault.BadRequest("Validation error: allowed_cidrs '%s' is not a valid IPv4 CIDR.", shown(c))
		}
		out.AllowedCIDRs = append(out.AllowedCIDRs, p.String())
	}
	b, err := json.Marshal(out)
	return string(b), out, err
}

// updateAccess is PUT/PATCH /instances/{id} with access (Trove's update_access): the access is recorded on the
// row, the task is UPDATING while the taskmanager applies it (publish the address or not, only allowed_cidrs
// reach the database ports), and the request waits until that ended as a configuration change does.
func (a *API) updateAccess(ctx context.Context, rc *requestContext, row *catalog.Instance, acc *schema.Access) error {
	changer, ok := a.tm.(InstanceChanger)
	if !ok {
		return fault.NotImplemented("Updating access is not supported by this deployment.")
	}
	stored, parsed, err := accessJSON(acc)
	if err != nil {
		return err
	}
	if row.ComputeInstanceID == "" {
		return fault.Unprocessable("Instance %s has no compute server.", row.ID)
	}
	swapped, err := a.cat.SetTaskIf(ctx, row.ID, status.TaskNone, status.TaskUpdating)
	if err != nil {
		return err
	}
	if !swapped {
		return fault.Unprocessable("Instance %s is not currently available for an action to be performed (task status was %s).", row.ID, row.Task().Action)
	}
	if err := a.cat.UpdateInstance(ctx, row.ID, catalog.InstanceUpdate{Access: &stored}); err != nil {
		return err
	}
	if err := changer.UpdateAccess(ctx, rc.rpcContext(), taskapi.UpdateAccessArgs{InstanceID: row.ID, Access: *parsed}); err != nil {
		task := status.TaskNone
		_ = a.cat.UpdateInstance(context.WithoutCancel(ctx), row.ID, catalog.InstanceUpdate{Task: &task})
		return fmt.Errorf("casting update_access for %s: %w", row.ID, err)
	}
	rc.logger().WithField("instance_id", row.ID).WithField("is_public", parsed.IsPublic).WithField("allowed_cidrs", parsed.AllowedCIDRs).Info("access update accepted")
	return a.waitUpdated(ctx, rc, row.ID)
}

// waitUpdated waits until the instance's task left UPDATING (bounded by agent_call_high_timeout plus a margin;
// the flow goes on after that).
func (a *API) waitUpdated(ctx context.Context, rc *requestContext, id string) error {
	high := a.cfg.AgentCallHigh
	if high <= 0 {
		high = guestapi.DefaultHighTimeout
	}
	deadline := time.Now().Add(high + 10*time.Second)
	for {
		row, err := a.cat.GetInstance(ctx, id)
		if err != nil || row.Task() != status.TaskUpdating {
			return nil
		}
		if time.Now().After(deadline) {
			rc.logger().WithField("instance_id", id).Warn("access update still running; answering before it ends")
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
