package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// get_replica_context — call (high timeout). No arguments; the answer carries the replication account's
// password and is never logged. Write (MariaDB: the first one turns the binary log on, a restart; PostgreSQL:
// pg_hba and the settings reloaded). Not resumed: the taskmanager repeats the call; repeating it is harmless
// (the account is replaced with the same password).
func (h *Handlers) registerGetReplicaContext(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodGetReplicaContext, order: rpc.Write},
		func(ctx context.Context, _ rpc.Context, _ guestapi.GetReplicaContextArgs) (guestapi.ReplicaContext, error) {
			return h.Agent.GetReplicaContext(ctx)
		})
}
