package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// revoke_access — call (low timeout). Payload logged. Fails with DatabaseNotFound when nothing is granted.
func (h *Handlers) registerRevokeAccess(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodRevokeAccess, order: rpc.Write, logArgs: true},
		func(ctx context.Context, _ rpc.Context, a guestapi.RevokeAccessArgs) (void, error) {
			return void{}, h.Agent.Shared(func(m datastore.Manager) error { return m.RevokeAccess(ctx, a.Username, a.Host(), a.Database) })
		})
}
