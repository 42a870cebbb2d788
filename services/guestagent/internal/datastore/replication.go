package datastore

import (
	"context"
	"time"
)

// ReplicationSource is what a replica needs to follow a source: its address, the replication account and the
// position to start from ("" keeps the replica's own).
type ReplicationSource struct {
	Host     string
	Port     int
	User     string
	Password string
	GTID     string
}

// Replicator is a Manager that replicates (MariaDB GTID so far). Every method is repeatable.
type Replicator interface {
	// EnableAsSource prepares the server to be followed and returns how, at its current position.
	EnableAsSource(ctx context.Context) (ReplicationSource, error)
	// RestoredGTID is the position of the backup the data was restored from, "" when none.
	RestoredGTID() (string, error)
	// AttachReplica makes the server a read-only replica of src.
	AttachReplica(ctx context.Context, src ReplicationSource) error
	// DetachReplica stops replication for good and makes the server writable.
	DetachReplica(ctx context.Context) error
	MakeReadOnly(ctx context.Context, on bool) error
	LatestTxnID(ctx context.Context) (string, error)
	// WaitForTxn waits until the server applied txn, at most timeout.
	WaitForTxn(ctx context.Context, txn string, timeout time.Duration) error
}
