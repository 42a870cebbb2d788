package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// delete_database — cast. Payload logged. Not resumed; idempotent (DROP ... IF EXISTS). Forwards
// trove_notification; a failure without one is still reported as a fault on the
// instance (notify_exc_info).
func (h *Handlers) registerDeleteDatabase(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodDeleteDatabase, order: rpc.Write, logArgs: true, notify: true, fault: classDatabaseDelete},
		func(ctx context.Context, _ rpc.Context, a guestapi.DeleteDatabaseArgs) (void, error) {
			err := h.Agent.Shared(func(m datastore.Manager) error { return m.DeleteDatabase(ctx, a.Database) })
			return void{}, named(err, "database %q not deleted", a.Database.Name)
		})
}
