package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// disable_root — call (low timeout). No payload. Idempotent.
func (h *Handlers) registerDisableRoot(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodDisableRoot, order: rpc.Write, logArgs: true},
		func(ctx context.Context, _ rpc.Context, _ guestapi.NoArgs) (void, error) {
			return void{}, h.Agent.Shared(func(m datastore.Manager) error { return m.DisableRoot(ctx) })
		})
}
