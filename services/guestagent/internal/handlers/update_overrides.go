package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// update_overrides — call (high timeout). Payload logged (option names and values, no secrets). Write: the
// overrides file changes. Idempotent (the file is replaced); not resumed: the caller waits for the result.
func (h *Handlers) registerUpdateOverrides(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodUpdateOverrides, order: rpc.Write, logArgs: true},
		func(ctx context.Context, _ rpc.Context, a guestapi.UpdateOverridesArgs) (void, error) {
			return void{}, h.Agent.UpdateOverrides(ctx, a.Overrides, a.Remove)
		})
}
