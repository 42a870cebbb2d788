package flows

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
)

// Database TCP ports per manager (Trove's [<datastore>] tcp_ports defaults).
var tcpPorts = map[string][]int{
	"mysql": {3306}, "mariadb": {3306}, "percona": {3306},
	"postgresql": {5432},
}

// UpdateAccess applies the access the API recorded on the row (Trove's update_access; the API stores it first,
// so a resumed flow applies the same): the driver's AccessController publishes the address or not and lets
// only allowed_cidrs reach the database ports. The task goes from UPDATING to NONE; a failure records a fault
// (the row keeps the requested access: the next update or a resume applies it again).
func (m *Manager) UpdateAccess(ctx context.Context, id string) error {
	inst, err := m.Catalog.GetInstance(ctx, id)
	if err != nil {
		return err
	}
	if inst.Task() != status.TaskUpdating {
		m.log(id).WithField("task", inst.Task().Action).Warn("update_access for an instance that is not updating; ignored")
		return nil
	}
	if err := m.retry(ctx, id, "updating access", func() error { return m.applyAccess(ctx, inst) }); err != nil {
		return m.failTask(ctx, id, status.TaskUpdating, status.TaskNone, "Error updating the instance's access.", err)
	}
	_, err = m.Catalog.SetTaskIf(ctx, id, status.TaskUpdating, status.TaskNone)
	return err
}

// applyAccess puts the row's access in force on the server; an instance without recorded access or without a
// server has nothing to apply.
func (m *Manager) applyAccess(ctx context.Context, inst catalog.Instance) error {
	if inst.Access == "" || inst.ComputeInstanceID == "" {
		return nil
	}
	var acc taskapi.Access
	if err := json.Unmarshal([]byte(inst.Access), &acc); err != nil {
		return permanent(fmt.Errorf("the instance's access %q: %w", inst.Access, err))
	}
	ac, ok := m.Compute.(compute.AccessController)
	if !ok {
		return permanent(fmt.Errorf("the compute driver cannot change access"))
	}
	ver, err := m.Catalog.GetVersion(ctx, inst.DatastoreVersionID)
	if err != nil {
		return err
	}
	cidrs := make([]string, 0, len(acc.AllowedCIDRs))
	for _, c := range acc.AllowedCIDRs {
		p, err := taskapi.ParseCIDR(c)
		if err != nil {
			return permanent(err)
		}
		cidrs = append(cidrs, p.String())
	}
	if len(cidrs) > 0 { // restricted: the instance's replication peers still reach it
		cidrs = append(cidrs, m.replicationPeers(ctx, inst)...)
	}
	err = ac.UpdateAccess(ctx, inst.ComputeInstanceID, compute.Access{IsPublic: acc.IsPublic, AllowedCIDRs: cidrs, Ports: tcpPorts[ver.Manager]})
	if err == nil {
		m.log(inst.ID).WithField("is_public", acc.IsPublic).WithField("allowed_cidrs", cidrs).Info("access applied")
	}
	return err
}

// resumeUpdating finishes an UPDATING task a previous taskmanager left: the access and the configuration group
// flows share the task, and both are idempotent, so the row's access is applied again and then its group pushed
// again (which ends the task as UpdateOverrides does).
func (m *Manager) resumeUpdating(ctx context.Context, rc rpc.Context, inst catalog.Instance) error {
	if err := m.applyAccess(ctx, inst); err != nil {
		m.recordFault(ctx, inst.ID, "Error updating the instance's access.", err)
	}
	return m.UpdateOverrides(ctx, rc, inst.ID)
}
