package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// reset_configuration — call (high timeout). Payload not logged (a whole configuration file). Write. The local
// guest renders its configuration itself, so there is nothing to restore; accepted for Trove's resize flow.
func (h *Handlers) registerResetConfiguration(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodResetConfiguration, order: rpc.Write},
		func(ctx context.Context, _ rpc.Context, _ guestapi.ResetConfigurationArgs) (void, error) {
			return void{}, h.Agent.ResetConfiguration(ctx)
		})
}
