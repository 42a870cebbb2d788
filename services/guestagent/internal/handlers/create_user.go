package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// create_user — cast. Payload NOT logged (passwords). Not resumed; idempotent (create or reset password, then
// grant). Refused when the volume is full. Forwards trove_notification.
func (h *Handlers) registerCreateUser(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodCreateUser, order: rpc.Write, notify: true},
		func(ctx context.Context, _ rpc.Context, a guestapi.CreateUserArgs) (void, error) {
			return void{}, h.Agent.Grow(func(m datastore.Manager) error { return m.CreateUsers(ctx, a.Users) })
		})
}
