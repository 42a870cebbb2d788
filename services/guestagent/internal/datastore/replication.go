package datastore

import (
	"context"
	"net/netip"
	"regexp"
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

var (
	replAccount = regexp.MustCompile(`^[A-Za-z0-9_]{1,32}$`)
	replSecret  = regexp.MustCompile(`^[A-Za-z0-9]{8,128}$`)
)

// Address checks that the source's values need no quoting where a datastore's replication statement or
// configuration takes no placeholders (an IP address and port, an account name and password of letters and
// digits) and returns its address; a KindBadRequest error otherwise.
func (s ReplicationSource) Address() (netip.Addr, error) {
	addr, err := netip.ParseAddr(s.Host)
	if err != nil || s.Port <= 0 || s.Port > 65535 {
		return netip.Addr{}, Errorf(KindBadRequest, "replication source %q port %d is not an IP address and port", s.Host, s.Port)
	}
	if !replAccount.MatchString(s.User) || !replSecret.MatchString(s.Password) {
		return netip.Addr{}, Errorf(KindBadRequest, "replication account or password has characters other than letters and digits")
	}
	return addr, nil
}

// Replicator is a Manager that replicates (MariaDB GTID, PostgreSQL streaming). Every method is repeatable.
// A position (GTID) is the datastore's own: a MariaDB GTID list, a PostgreSQL WAL location (LSN, "16/B374D848").
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

// SeedRestorer is a Replicator whose replica seed is restored otherwise than a backup (PostgreSQL: left a
// standby waiting for its source instead of recovered to a server of its own). Prepare uses it when the
// backup is a replication snapshot; a Replicator without it restores a seed as any backup.
type SeedRestorer interface {
	RestoreReplicaSeed(ctx context.Context, chain []BackupRef, open BackupOpener) error
}
