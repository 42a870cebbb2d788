package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// wait_for_txn — call (high timeout). Payload logged (a position). Read: it only waits, for at most 150 s,
// until the server applied txn.
func (h *Handlers) registerWaitForTxn(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodWaitForTxn, order: rpc.Read, logArgs: true},
		func(ctx context.Context, _ rpc.Context, a guestapi.WaitForTxnArgs) (void, error) {
			return void{}, h.Agent.WaitForTxn(ctx, a.Txn)
		})
}
