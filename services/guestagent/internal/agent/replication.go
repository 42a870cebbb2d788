package agent

import (
	"context"
	"time"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// replicationWait bounds wait_for_txn: below the control plane's default high call timeout (180 s).
const replicationWait = 150 * time.Second

// replicator runs fn with the manager as a Replicator, exclusively (attaching and enabling a source may
// restart the server), once prepared.
func (a *Agent) replicator(fn func(r datastore.Replicator) error) error {
	a.lifecycle.Lock()
	defer a.lifecycle.Unlock()
	if !a.Prepared() {
		return datastore.Errorf(datastore.KindNotRunning, "the guest is not prepared yet")
	}
	r, ok := a.mgr.(datastore.Replicator)
	if !ok {
		return datastore.Errorf(datastore.KindBadRequest, "replication is not supported by this datastore yet")
	}
	return fn(r)
}

// GetReplicaContext makes this server a source and says how to follow it.
func (a *Agent) GetReplicaContext(ctx context.Context) (guestapi.ReplicaContext, error) {
	var out guestapi.ReplicaContext
	err := a.replicator(func(r datastore.Replicator) error {
		src, err := r.EnableAsSource(ctx)
		out = guestapi.ReplicaContext{Master: guestapi.ReplicaSource{Host: src.Host, Port: src.Port, User: src.User, Password: src.Password}, Txn: src.GTID}
		return err
	})
	return out, err
}

// AttachReplica follows the source of info, from info's position or else from where the restored data is.
func (a *Agent) AttachReplica(ctx context.Context, info guestapi.ReplicaContext) error {
	return a.replicator(func(r datastore.Replicator) error {
		src := datastore.ReplicationSource{Host: info.Master.Host, Port: info.Master.Port, User: info.Master.User,
			Password: info.Master.Password, GTID: info.Txn}
		if src.GTID == "" {
			g, err := r.RestoredGTID()
			if err != nil {
				return err
			}
			src.GTID = g
		}
		return r.AttachReplica(ctx, src)
	})
}

// DetachReplica makes this replica standalone and writable.
func (a *Agent) DetachReplica(ctx context.Context) error {
	return a.replicator(func(r datastore.Replicator) error { return r.DetachReplica(ctx) })
}

// MakeReadOnly switches read-only on or off.
func (a *Agent) MakeReadOnly(ctx context.Context, on bool) error {
	return a.replicator(func(r datastore.Replicator) error { return r.MakeReadOnly(ctx, on) })
}

// LatestTxnID is the server's replication position.
func (a *Agent) LatestTxnID(ctx context.Context) (string, error) {
	var out string
	err := a.replicator(func(r datastore.Replicator) error {
		var err error
		out, err = r.LatestTxnID(ctx)
		return err
	})
	return out, err
}

// WaitForTxn waits until the server applied txn.
func (a *Agent) WaitForTxn(ctx context.Context, txn string) error {
	return a.replicator(func(r datastore.Replicator) error { return r.WaitForTxn(ctx, txn, replicationWait) })
}
