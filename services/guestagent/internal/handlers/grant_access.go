package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// grant_access — call (low timeout). Payload logged. Idempotent (GRANT).
func (h *Handlers) registerGrantAccess(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodGrantAccess, order: rpc.Write, logArgs: true},
		func(ctx context.Context, _ rpc.Context, a guestapi.GrantAccessArgs) (void, error) {
			return void{}, h.Agent.Shared(func(m datastore.Manager) error { return m.GrantAccess(ctx, a.Username, a.Host(), a.Databases) })
		})
}
