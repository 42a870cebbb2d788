package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// list_access — call (low timeout). Payload logged. Read-only; the user's databases.
func (h *Handlers) registerListAccess(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodListAccess, order: rpc.Read, logArgs: true},
		func(ctx context.Context, _ rpc.Context, a guestapi.ListAccessArgs) (r []guestapi.Schema, err error) {
			err = h.Agent.Shared(func(m datastore.Manager) error { r, err = m.ListAccess(ctx, a.Username, a.Host()); return err })
			return r, err
		})
}
