package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// get_latest_txn_id — call (high timeout). No arguments. Read. The server's replication position (MariaDB:
// gtid_current_pos; PostgreSQL: a WAL location, LSN).
func (h *Handlers) registerGetLatestTxnID(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodGetLatestTxnID, order: rpc.Read, logArgs: true},
		func(ctx context.Context, _ rpc.Context, _ guestapi.GetLatestTxnIDArgs) (string, error) {
			return h.Agent.LatestTxnID(ctx)
		})
}
