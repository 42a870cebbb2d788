package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// make_read_only — call (high timeout). Payload logged (a boolean). Write; persistent (kept across restarts;
// PostgreSQL: a source is demoted to a standby, a restart). Not resumed; repeatable.
func (h *Handlers) registerMakeReadOnly(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodMakeReadOnly, order: rpc.Write, logArgs: true},
		func(ctx context.Context, _ rpc.Context, a guestapi.MakeReadOnlyArgs) (void, error) {
			return void{}, h.Agent.MakeReadOnly(ctx, a.ReadOnly)
		})
}
