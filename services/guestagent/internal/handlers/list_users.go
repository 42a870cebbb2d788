package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// list_users — call (high timeout, as Trove). Payload logged. Read-only; returns [[user...], next_marker]
// with markers "name@host".
func (h *Handlers) registerListUsers(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodListUsers, order: rpc.Read, logArgs: true},
		func(ctx context.Context, _ rpc.Context, a guestapi.ListArgs) (r guestapi.UserPage, err error) {
			err = h.Agent.Shared(func(m datastore.Manager) error { r, err = m.ListUsers(ctx, a); return err })
			return r, err
		})
}
