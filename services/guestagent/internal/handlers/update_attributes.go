package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// update_attributes — cast. Payload NOT logged (user_attrs.password). Not resumed; re-running converges
// unless the rename already happened (then the old name is gone and it fails: UserNotFound). Forwards
// trove_notification; a failure without one is still reported as a fault on the
// instance (notify_exc_info).
func (h *Handlers) registerUpdateAttributes(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodUpdateAttributes, order: rpc.Write, notify: true, fault: classUserUpdate},
		func(ctx context.Context, _ rpc.Context, a guestapi.UpdateAttributesArgs) (void, error) {
			err := h.Agent.Shared(func(m datastore.Manager) error {
				return m.UpdateAttributes(ctx, a.Username, a.Host(), a.UserAttrs)
			})
			return void{}, named(err, "user %q not updated", a.Username)
		})
}
