package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// reset_configuration — call (high timeout). Payload not logged (a whole configuration file). Write. The local
// guest renders its configuration itself; it takes back the flavor settings of the given configuration (a
// failed flavor resize returns to the old flavor's). Idempotent.
func (h *Handlers) registerResetConfiguration(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodResetConfiguration, order: rpc.Write},
		func(ctx context.Context, _ rpc.Context, a guestapi.ResetConfigurationArgs) (void, error) {
			return void{}, h.Agent.ResetConfiguration(ctx, a.Configuration.ConfigContents)
		})
}
