package guestapi

import (
	"context"
	"errors"

	"github.com/trove-go/trove/pkg/rpc"
)

// Trove's replication methods (rpc.md §B.3), all calls at BaseVersion.
const (
	MethodGetReplicaContext = "get_replica_context"
	MethodAttachReplica     = "attach_replica"
	MethodDetachReplica     = "detach_replica"
	MethodMakeReadOnly      = "make_read_only"
	MethodGetLatestTxnID    = "get_latest_txn_id"
	MethodWaitForTxn        = "wait_for_txn"
)

// ReplicaSource is how to reach a replication source: its database address and the replication account.
type ReplicaSource struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	User     string `json:"user"`
	Password string `json:"password"`
}

// ReplicaContext is get_replica_context's answer and attach_replica's replica_info: the source and its
// position when asked (MariaDB: a GTID list). An attach with an empty txn starts from the position the
// replica's data was restored at.
type ReplicaContext struct {
	Master ReplicaSource `json:"master"`
	Txn    string        `json:"txn"`
}

// GetReplicaContextArgs is get_replica_context (no arguments).
type GetReplicaContextArgs struct{}

// Validate accepts the empty arguments.
func (GetReplicaContextArgs) Validate() error { return nil }

// AttachReplicaArgs is attach_replica.
type AttachReplicaArgs struct {
	ReplicaInfo ReplicaContext `json:"replica_info"`
	SlaveConfig string         `json:"slave_config"`
	Restart     bool           `json:"restart"`
}

// Validate checks that the source is named.
func (a AttachReplicaArgs) Validate() error {
	if a.ReplicaInfo.Master.Host == "" || a.ReplicaInfo.Master.Port <= 0 || a.ReplicaInfo.Master.User == "" {
		return errors.New("replica_info.master needs host, port and user")
	}
	return nil
}

// DetachReplicaArgs is detach_replica.
type DetachReplicaArgs struct {
	ForFailover bool `json:"for_failover"`
}

// Validate accepts any value.
func (DetachReplicaArgs) Validate() error { return nil }

// MakeReadOnlyArgs is make_read_only.
type MakeReadOnlyArgs struct {
	ReadOnly bool `json:"read_only"`
}

// Validate accepts any value.
func (MakeReadOnlyArgs) Validate() error { return nil }

// GetLatestTxnIDArgs is get_latest_txn_id (no arguments).
type GetLatestTxnIDArgs struct{}

// Validate accepts the empty arguments.
func (GetLatestTxnIDArgs) Validate() error { return nil }

// WaitForTxnArgs is wait_for_txn.
type WaitForTxnArgs struct {
	Txn string `json:"txn"`
}

// Validate checks that a position is given.
func (a WaitForTxnArgs) Validate() error {
	if a.Txn == "" {
		return errors.New("txn is required")
	}
	return nil
}

// GetReplicaContext calls get_replica_context (high): the guest becomes a source (replication account, binary
// log) and answers how to follow it.
func (c *Client) GetReplicaContext(ctx context.Context, rc rpc.Context) (ReplicaContext, error) {
	var r ReplicaContext
	err := c.call(ctx, rc, MethodGetReplicaContext, GetReplicaContextArgs{}, &r, c.High)
	return r, err
}

// AttachReplica calls attach_replica (high).
func (c *Client) AttachReplica(ctx context.Context, rc rpc.Context, a AttachReplicaArgs) error {
	return c.call(ctx, rc, MethodAttachReplica, a, nil, c.High)
}

// DetachReplica calls detach_replica (high).
func (c *Client) DetachReplica(ctx context.Context, rc rpc.Context, a DetachReplicaArgs) error {
	return c.call(ctx, rc, MethodDetachReplica, a, nil, c.High)
}

// MakeReadOnly calls make_read_only (high).
func (c *Client) MakeReadOnly(ctx context.Context, rc rpc.Context, readOnly bool) error {
	return c.call(ctx, rc, MethodMakeReadOnly, MakeReadOnlyArgs{ReadOnly: readOnly}, nil, c.High)
}

// GetLatestTxnID calls get_latest_txn_id (high).
func (c *Client) GetLatestTxnID(ctx context.Context, rc rpc.Context) (string, error) {
	var r string
	err := c.call(ctx, rc, MethodGetLatestTxnID, GetLatestTxnIDArgs{}, &r, c.High)
	return r, err
}

// WaitForTxn calls wait_for_txn (high): the guest waits until it applied txn, at most the call's timeout.
func (c *Client) WaitForTxn(ctx context.Context, rc rpc.Context, txn string) error {
	return c.call(ctx, rc, MethodWaitForTxn, WaitForTxnArgs{Txn: txn}, nil, c.High)
}
