package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
	"github.com/trove-go/trove/services/api/internal/fault"
	"github.com/trove-go/trove/services/api/internal/schema"
)

// actionRules maps an action to its policy rule.
var actionRules = map[string]string{
	schema.ActionRestart:      "instance:restart",
	schema.ActionResizeVolume: "instance:resize_volume",
	schema.ActionResizeFlavor: "instance:resize_flavor",
	schema.ActionPromote:      "instance:promote_to_replica_source",
	schema.ActionEject:        "instance:eject_replica_source",
	schema.ActionResetStatus:  "instance:reset_status",
}

// instanceAction is POST /instances/{id}/action. Every action answers 202 with an empty body.
func (a *API) instanceAction(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	ctx := r.Context()
	doc, err := a.readBody(r)
	if err != nil {
		return err
	}
	act, err := schema.ParseInstanceAction(doc)
	var unknown *schema.UnknownActionError
	if errors.As(err, &unknown) {
		return fault.BadRequest("%s", unknown.Error())
	}
	if err != nil {
		return err
	}
	rule := actionRules[act.Kind]
	if act.Kind == schema.ActionResetStatus && act.ForceDelete {
		rule = "instance:force_delete"
	}
	row, err := a.loadInstance(ctx, rc, rule, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	switch act.Kind {
	case schema.ActionResetStatus:
		return a.resetStatus(w, r, rc, row)
	case schema.ActionPromote:
		return a.promote(w, r, rc, row)
	case schema.ActionEject:
		return a.eject(w, r, rc, row)
	}
	if act.Kind != schema.ActionRestart && row.ClusterID != "" {
		return fault.NotImplemented("Operation not supported for instances that are part of a cluster.")
	}
	if row.ComputeInstanceID == "" && row.Task().Action != status.TaskBuilding.Action {
		return fault.Unprocessable("Instance %s has no compute server.", row.ID)
	}
	if err := a.checkCanAct(ctx, row); err != nil {
		return err
	}
	switch act.Kind {
	case schema.ActionRestart:
		return a.restart(w, r, rc, row)
	case schema.ActionResizeVolume:
		return a.resizeVolume(w, r, rc, row, act.VolumeSize)
	}
	return a.resizeFlavor(w, r, rc, row, act.FlavorRef)
}

// checkCanAct is Trove's validate_can_perform_action (422).
func (a *API) checkCanAct(ctx context.Context, row *catalog.Instance) error {
	infos, err := a.infos(ctx, []catalog.Instance{*row})
	if err != nil {
		return err
	}
	in := &infos[0]
	svc := status.Unknown
	if in.svc != nil {
		svc = in.svc.Status()
	}
	shown := a.renderInstance(baseURL{}, in, false, false, a.now()).Status
	if typ, val := status.ActionBlocker(row.Task(), serverStatus(row), svc, in.backup, shown); typ != "" {
		return fault.Unprocessable("Instance %s is not currently available for an action to be performed (%s status was %s).", row.ID, typ, val)
	}
	return nil
}

func (a *API) restart(w http.ResponseWriter, r *http.Request, rc *requestContext, row *catalog.Instance) error {
	ctx := r.Context()
	if err := a.cat.SetTask(ctx, row.ID, status.TaskRebooting); err != nil {
		return err
	}
	if err := a.cat.SetServiceStatus(ctx, row.ID, status.Restarting); err != nil {
		return err
	}
	if err := a.tm.Restart(ctx, rc.rpcContext(), taskapi.RestartArgs{InstanceID: row.ID}); err != nil {
		return fmt.Errorf("casting restart for %s: %w", row.ID, err)
	}
	rc.logger().WithField("instance_id", row.ID).Info("instance restart accepted")
	return writeEmpty(w, http.StatusAccepted)
}

func (a *API) resizeVolume(w http.ResponseWriter, r *http.Request, rc *requestContext, row *catalog.Instance, size int64) error {
	ctx := r.Context()
	if row.VolumeSize <= 0 {
		return fault.BadRequest("Instance %s has no volume.", row.ID)
	}
	if size <= int64(row.VolumeSize) {
		return fault.BadRequest("The new volume 'size' must be larger than the current volume size of '%d'.", row.VolumeSize)
	}
	if size > a.cfg.MaxAcceptedVolumeSize {
		return fault.OverLimit("Volume quota exceeded for instance: requested %d GB, maximum accepted size is %d GB.", size, a.cfg.MaxAcceptedVolumeSize)
	}
	// A source's replicas are resized with it (Trove): each must be able to act too.
	set := []catalog.Instance{*row}
	reps, err := a.cat.Replicas(ctx, row.TenantID, []string{row.ID})
	if err != nil {
		return err
	}
	for _, id := range reps[row.ID] {
		rep, err := a.cat.GetInstance(ctx, id)
		if err != nil {
			return err
		}
		if err := a.checkCanAct(ctx, &rep); err != nil {
			return err
		}
		if int64(rep.VolumeSize) < size {
			set = append(set, rep)
		}
	}
	// Claim the tasks first so two concurrent resizes cannot both pass.
	var claimed []catalog.Instance
	release := func() {
		for _, in := range claimed {
			if _, uerr := a.cat.SetTaskIf(ctx, in.ID, status.TaskResizing, in.Task()); uerr != nil {
				rc.logger().WithError(uerr).Error("restoring task after refused resize")
			}
		}
	}
	delta := 0
	for _, in := range set {
		swapped, err := a.cat.SetTaskIf(ctx, in.ID, in.Task(), status.TaskResizing)
		if err != nil || !swapped {
			release()
			if err != nil {
				return err
			}
			return fault.Unprocessable("Instance %s is not currently available for an action to be performed (task status was changed).", in.ID)
		}
		claimed = append(claimed, in)
		delta += int(size) - in.VolumeSize
	}
	err = a.cat.ChangeUsage(ctx, row.TenantID, map[string]int{catalog.ResourceVolumes: delta}, a.cfg.Quotas)
	var qe *catalog.QuotaExceededError
	if err != nil {
		release()
		if errors.As(err, &qe) {
			return fault.OverLimit("%s", qe.Error())
		}
		return err
	}
	for _, in := range set {
		if err := a.tm.ResizeVolume(ctx, rc.rpcContext(), taskapi.ResizeVolumeArgs{InstanceID: in.ID, NewSize: int(size)}); err != nil {
			return fmt.Errorf("casting resize_volume for %s: %w", in.ID, err)
		}
	}
	rc.logger().WithField("instance_id", row.ID).WithField("new_size", size).WithField("replicas", len(set)-1).Info("volume resize accepted")
	return writeEmpty(w, http.StatusAccepted)
}

// resetStatus is Trove's reset_status: task NONE and guest status UNKNOWN (the next heartbeat corrects it).
func (a *API) resetStatus(w http.ResponseWriter, r *http.Request, rc *requestContext, row *catalog.Instance) error {
	ctx := r.Context()
	if err := a.notified(r.Context(), rc, "DBaaSInstanceResetStatus", map[string]any{"instance_id": row.ID}, func() (map[string]any, error) {
		if err := a.cat.SetTask(ctx, row.ID, status.TaskNone); err != nil {
			return nil, err
		}
		return nil, a.cat.SetServiceStatus(ctx, row.ID, status.Unknown)
	}); err != nil {
		return err
	}
	rc.logger().WithField("instance_id", row.ID).Info("instance status reset")
	return writeEmpty(w, http.StatusAccepted)
}

// promote is Trove's promote_to_replica_source: the replica must be able to act (422) and be a replica (400);
// its source and every replica of the source get task PROMOTING; the taskmanager switches the roles over.
func (a *API) promote(w http.ResponseWriter, r *http.Request, rc *requestContext, row *catalog.Instance) error {
	ctx := r.Context()
	if err := a.checkCanAct(ctx, row); err != nil {
		return err
	}
	if row.SlaveOfID == "" {
		return fault.BadRequest("Instance %s is not a replica.", row.ID)
	}
	set, err := a.cat.Replicas(ctx, row.TenantID, []string{row.SlaveOfID})
	if err != nil {
		return err
	}
	for _, id := range append([]string{row.SlaveOfID}, set[row.SlaveOfID]...) {
		if err := a.cat.SetTask(ctx, id, status.TaskPromoting); err != nil && !errors.Is(err, catalog.ErrNotFound) {
			return err
		}
	}
	if err := a.tm.PromoteToReplicaSource(ctx, rc.rpcContext(), taskapi.ReplicationArgs{InstanceID: row.ID}); err != nil {
		return fmt.Errorf("casting promote_to_replica_source for %s: %w", row.ID, err)
	}
	rc.logger().WithField("instance_id", row.ID).WithField("source_id", row.SlaveOfID).Info("replica promotion accepted")
	return writeEmpty(w, http.StatusAccepted)
}

// eject is Trove's eject_replica_source: the instance must have replicas (400) and its guest must have been
// silent for longer than agent_heartbeat_expiry (400 while it heartbeats); it and its replicas get task
// EJECTING and the taskmanager promotes the most advanced replica.
func (a *API) eject(w http.ResponseWriter, r *http.Request, rc *requestContext, row *catalog.Instance) error {
	ctx := r.Context()
	set, err := a.cat.Replicas(ctx, row.TenantID, []string{row.ID})
	if err != nil {
		return err
	}
	if len(set[row.ID]) == 0 {
		return fault.BadRequest("Instance %s is not a replica source.", row.ID)
	}
	svc, err := a.cat.GetServiceStatus(ctx, row.ID)
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return err
	}
	if err == nil && svc.HeartbeatAge(a.now()) < a.cfg.HeartbeatExpiry {
		return fault.BadRequest("Replica Source %s cannot be ejected as it has a current heartbeat", row.ID)
	}
	for _, id := range append([]string{row.ID}, set[row.ID]...) {
		if err := a.cat.SetTask(ctx, id, status.TaskEjecting); err != nil && !errors.Is(err, catalog.ErrNotFound) {
			return err
		}
	}
	if err := a.tm.EjectReplicaSource(ctx, rc.rpcContext(), taskapi.ReplicationArgs{InstanceID: row.ID}); err != nil {
		return fmt.Errorf("casting eject_replica_source for %s: %w", row.ID, err)
	}
	rc.logger().WithField("instance_id", row.ID).Info("replica source ejection accepted")
	return writeEmpty(w, http.StatusAccepted)
}

// detachReplica is Trove's detach_replica (PUT/PATCH with replica_of or slave_of): the instance must be able
// to act (422) and be a replica (400); task DETACHING, and the taskmanager makes it standalone.
func (a *API) detachReplica(ctx context.Context, rc *requestContext, row *catalog.Instance) error {
	if err := a.checkCanAct(ctx, row); err != nil {
		return err
	}
	if row.SlaveOfID == "" {
		return fault.BadRequest("Instance %s is not a replica.", row.ID)
	}
	swapped, err := a.cat.SetTaskIf(ctx, row.ID, row.Task(), status.TaskDetaching)
	if err != nil {
		return err
	}
	if !swapped {
		return fault.Unprocessable("Instance %s is not currently available for an action to be performed (task status was changed).", row.ID)
	}
	if err := a.tm.DetachReplica(ctx, rc.rpcContext(), taskapi.ReplicationArgs{InstanceID: row.ID}); err != nil {
		return fmt.Errorf("casting detach_replica for %s: %w", row.ID, err)
	}
	rc.logger().WithField("instance_id", row.ID).WithField("source_id", row.SlaveOfID).Info("replica detach accepted")
	return nil
}
