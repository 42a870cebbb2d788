package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// restart — call (high timeout). No payload. Not resumed: the caller waits for the result; after an agent
// restart the server is started anyway unless stop_db was called.
func (h *Handlers) registerRestart(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodRestart, order: rpc.Write, logArgs: true},
		func(ctx context.Context, _ rpc.Context, _ guestapi.NoArgs) (void, error) {
			return void{}, h.Agent.Restart(ctx)
		})
}
