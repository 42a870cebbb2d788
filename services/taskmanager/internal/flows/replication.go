package flows

import (
	"context"
	"errors"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
)

// Replication (issue 16). The API accepts replica creates, promote, eject and detach with Trove's rules; the
// flows that seed a replica from a backup of its source and switch roles are not built yet. Until they are, each
// of these casts ends cleanly instead of leaving a task set forever or building a standalone instance that only
// claims to be a replica: a replica build fails with Trove's "Build error: Replica." (84) and a fault, and
// promote / eject / detach put the replication set's tasks back to NONE with a fault on the instance acted on
// (nothing was changed, so the set is as it was).
const (
	replicaBuildUnavailable = "Replica creation is not available yet: this taskmanager cannot seed and attach a replica."
	promoteUnavailable      = "Promotion to replica source is not available yet in this taskmanager; nothing was changed."
	ejectUnavailable        = "Ejecting the replica source is not available yet in this taskmanager; nothing was changed."
	detachUnavailable       = "Detaching a replica is not available yet in this taskmanager; nothing was changed."
)

// replicationSet is the source and its live replicas.
func (m *Manager) replicationSet(ctx context.Context, sourceID string) []string {
	set, err := m.Catalog.Replicas(ctx, "", []string{sourceID})
	if err != nil {
		m.log(sourceID).WithError(err).Error("reading the replicas of a source")
	}
	return append([]string{sourceID}, set[sourceID]...)
}

// endUnavailable records message on id and sets the tasks of ids back from `from` to NONE.
func (m *Manager) endUnavailable(ctx context.Context, id string, ids []string, from status.InstanceTask, message string) error {
	ctx = context.WithoutCancel(ctx)
	m.recordFault(ctx, id, message, nil)
	for _, x := range ids {
		m.resetTask(ctx, x, from)
	}
	return errors.New(message)
}

// PromoteToReplicaSource is promote_to_replica_source for replica id.
func (m *Manager) PromoteToReplicaSource(ctx context.Context, id string) error {
	inst, err := m.Catalog.GetInstance(ctx, id)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	ids := []string{id}
	if inst.SlaveOfID != "" {
		ids = m.replicationSet(ctx, inst.SlaveOfID)
	}
	return m.endUnavailable(ctx, id, ids, status.TaskPromoting, promoteUnavailable)
}

// EjectReplicaSource is eject_replica_source for source id.
func (m *Manager) EjectReplicaSource(ctx context.Context, id string) error {
	return m.endUnavailable(ctx, id, m.replicationSet(ctx, id), status.TaskEjecting, ejectUnavailable)
}

// DetachReplica is detach_replica for replica id.
func (m *Manager) DetachReplica(ctx context.Context, id string) error {
	return m.endUnavailable(ctx, id, []string{id}, status.TaskDetaching, detachUnavailable)
}

func (m *Manager) registerReplication(srv *rpc.Server) {
	rpc.Register(srv, taskapi.MethodPromoteToReplicaSource, func(_ context.Context, rc rpc.Context, a taskapi.ReplicationArgs) (rpc.Void, error) {
		m.Go(a.InstanceID, "promote", m.ending(&rc, a.InstanceID, func(ctx context.Context) error { return m.PromoteToReplicaSource(ctx, a.InstanceID) }))
		return rpc.Void{}, nil
	})
	rpc.Register(srv, taskapi.MethodEjectReplicaSource, func(_ context.Context, rc rpc.Context, a taskapi.ReplicationArgs) (rpc.Void, error) {
		m.Go(a.InstanceID, "eject", m.ending(&rc, a.InstanceID, func(ctx context.Context) error { return m.EjectReplicaSource(ctx, a.InstanceID) }))
		return rpc.Void{}, nil
	})
	rpc.Register(srv, taskapi.MethodDetachReplica, func(_ context.Context, rc rpc.Context, a taskapi.ReplicationArgs) (rpc.Void, error) {
		m.Go(a.InstanceID, "detach", m.ending(&rc, a.InstanceID, func(ctx context.Context) error { return m.DetachReplica(ctx, a.InstanceID) }))
		return rpc.Void{}, nil
	})
}
