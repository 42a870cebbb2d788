package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/taskapi"
	"github.com/trove-go/trove/services/api/internal/fault"
)

// rpcKeyRotator is the taskmanager's key rotation (ours, docs/secure-rpc.md); *taskapi.Client implements it.
type rpcKeyRotator interface {
	RotateRPCKey(ctx context.Context, rc rpc.Context, a taskapi.RotateRPCKeyArgs) error
	RotateRPCKeys(ctx context.Context, rc rpc.Context, a taskapi.RotateRPCKeysArgs) error
}

func (a *API) rotator() (rpcKeyRotator, error) {
	r, ok := a.tm.(rpcKeyRotator)
	if !ok {
		return nil, fault.NotImplemented("RPC key rotation is not available.")
	}
	return r, nil
}

// mgmtInstanceAction is POST /mgmt/instances/{id}/action (admin only). Ours: {"rotate_rpc_key": {}} gives the
// instance a new RPC key over the channel encrypted with its current one (202; the taskmanager does the work).
func (a *API) mgmtInstanceAction(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	if err := requireAdmin(rc); err != nil {
		return err
	}
	doc, err := a.readBody(r)
	if err != nil {
		return err
	}
	body, _ := doc.(map[string]any)
	if _, ok := body["rotate_rpc_key"]; !ok || len(body) != 1 {
		return fault.BadRequest("Invalid management action: expected {\"rotate_rpc_key\": {}}.")
	}
	id := mux.Vars(r)["id"]
	if !canonicalID(id) {
		return fault.NotFound(id)
	}
	inst, err := a.cat.GetInstance(r.Context(), id)
	if errors.Is(err, catalog.ErrNotFound) {
		return fault.NotFound(id)
	}
	if err != nil {
		return err
	}
	if inst.EncryptedKey == "" {
		return fault.BadRequest("Instance %s has no RPC key (a legacy instance); upgrade it to give it one.", id)
	}
	p, err := a.cat.InstancePeer(r.Context(), a.cfg.InstRPCKeyEncrKey, id)
	if err != nil {
		return err
	}
	if _, err := (guestapi.Peer{InstanceID: id, Agent: guestapi.AgentFor(p.Recorded)}).VersionFor(guestapi.MethodRotateRPCKey); err != nil {
		return fault.BadRequest("The RPC key of instance %s cannot be rotated: %s.", id, err)
	}
	rot, err := a.rotator()
	if err != nil {
		return err
	}
	if err := rot.RotateRPCKey(r.Context(), rc.rpcContext(), taskapi.RotateRPCKeyArgs{InstanceID: id}); err != nil {
		return err
	}
	rc.logger().WithField("instance_id", id).Info("RPC key rotation requested")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// mgmtInstancesAction is POST /mgmt/instances/action (admin only). Ours: {"rotate_rpc_keys": {}} rotates the
// key of every keyed instance; {"rotate_rpc_keys": {"tenant_id": "…"}} of one project's (202).
func (a *API) mgmtInstancesAction(w http.ResponseWriter, r *http.Request) error {
	rc := reqCtx(r)
	if err := requireAdmin(rc); err != nil {
		return err
	}
	doc, err := a.readBody(r)
	if err != nil {
		return err
	}
	body, _ := doc.(map[string]any)
	opts, ok := body["rotate_rpc_keys"].(map[string]any)
	if !ok || len(body) != 1 {
		return fault.BadRequest("Invalid management action: expected {\"rotate_rpc_keys\": {}}.")
	}
	args := taskapi.RotateRPCKeysArgs{}
	if v, present := opts["tenant_id"]; present {
		s, isStr := v.(string)
		if !isStr || s == "" {
			return fault.BadRequest("rotate_rpc_keys.tenant_id must be a non-empty string.")
		}
		args.TenantID = s
	}
	if err := args.Validate(); err != nil {
		return fault.BadRequest("%s", err.Error())
	}
	rot, err := a.rotator()
	if err != nil {
		return err
	}
	if err := rot.RotateRPCKeys(r.Context(), rc.rpcContext(), args); err != nil {
		return err
	}
	rc.logger().WithField("tenant_id", args.TenantID).Info("RPC key rotation of every instance requested")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
