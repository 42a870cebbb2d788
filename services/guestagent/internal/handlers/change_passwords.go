package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// change_passwords — cast. Payload NOT logged (passwords). Not resumed; idempotent. Forwards
// trove_notification; a failure without one is still reported as a fault on the
// instance (notify_exc_info).
func (h *Handlers) registerChangePasswords(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodChangePasswords, order: rpc.Write, notify: true, fault: classUserChangePassword},
		func(ctx context.Context, _ rpc.Context, a guestapi.ChangePasswordsArgs) (void, error) {
			return void{}, h.Agent.Shared(func(m datastore.Manager) error { return m.ChangePasswords(ctx, a.Users) })
		})
}
