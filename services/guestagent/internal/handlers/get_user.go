package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// get_user — call (low timeout). Payload logged. Read-only; null when the user does not exist.
func (h *Handlers) registerGetUser(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodGetUser, order: rpc.Read, logArgs: true},
		func(ctx context.Context, _ rpc.Context, a guestapi.GetUserArgs) (r *guestapi.User, err error) {
			err = h.Agent.Shared(func(m datastore.Manager) error { r, err = m.GetUser(ctx, a.Username, a.Host()); return err })
			return r, err
		})
}
