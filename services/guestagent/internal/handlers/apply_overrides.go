package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// apply_overrides — call (high timeout). Payload logged. Write: the running server's settings change.
// Idempotent; not resumed. Answers {"restart_required", "pending"} (Trove's guest answers null).
func (h *Handlers) registerApplyOverrides(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodApplyOverrides, order: rpc.Write, logArgs: true},
		func(ctx context.Context, _ rpc.Context, a guestapi.ApplyOverridesArgs) (guestapi.ApplyOverridesResult, error) {
			return h.Agent.ApplyOverrides(ctx, a.Overrides)
		})
}
