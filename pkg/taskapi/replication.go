package taskapi

import (
	"context"

	"github.com/trove-go/trove/pkg/rpc"
)

// Trove's taskmanager methods of replication; each takes only the instance id.
const (
	MethodPromoteToReplicaSource = "promote_to_replica_source"
	MethodEjectReplicaSource     = "eject_replica_source"
	MethodDetachReplica          = "detach_replica"
)

// ReplicationArgs is promote_to_replica_source (the replica to promote), eject_replica_source (the dead
// source) and detach_replica (the replica to make standalone).
type ReplicationArgs struct {
	InstanceID string `json:"instance_id"`
}

// Validate checks the instance id.
func (a ReplicationArgs) Validate() error { return validID("instance_id", a.InstanceID) }

// PromoteToReplicaSource casts promote_to_replica_source.
func (c *Client) PromoteToReplicaSource(ctx context.Context, rc rpc.Context, a ReplicationArgs) error {
	return c.cast(ctx, rc, MethodPromoteToReplicaSource, a)
}

// EjectReplicaSource casts eject_replica_source.
func (c *Client) EjectReplicaSource(ctx context.Context, rc rpc.Context, a ReplicationArgs) error {
	return c.cast(ctx, rc, MethodEjectReplicaSource, a)
}

// DetachReplica casts detach_replica.
func (c *Client) DetachReplica(ctx context.Context, rc rpc.Context, a ReplicationArgs) error {
	return c.cast(ctx, rc, MethodDetachReplica, a)
}
