package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// stop_db — call (low timeout). Payload logged (do_not_start_on_reboot only). Persistent: the server stays
// stopped across agent restarts until restart.
func (h *Handlers) registerStopDB(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodStopDB, order: rpc.Write, logArgs: true},
		func(ctx context.Context, _ rpc.Context, _ guestapi.StopDBArgs) (void, error) {
			return void{}, h.Agent.StopDB(ctx)
		})
}
