package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// delete_user — cast. Payload NOT logged (the user dict may carry _password). Not resumed; idempotent.
// Forwards trove_notification; a failure without one is still reported as a fault on the
// instance (notify_exc_info).
func (h *Handlers) registerDeleteUser(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodDeleteUser, order: rpc.Write, notify: true, fault: classUserDelete},
		func(ctx context.Context, _ rpc.Context, a guestapi.DeleteUserArgs) (void, error) {
			err := h.Agent.Shared(func(m datastore.Manager) error { return m.DeleteUser(ctx, a.User.Name, a.User.HostOrDefault()) })
			return void{}, named(err, "user %q not deleted", a.User.Name)
		})
}
