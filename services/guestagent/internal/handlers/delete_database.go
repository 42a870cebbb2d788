package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// delete_database — cast. Payload logged. Not resumed; idempotent (DROP ... IF EXISTS). Forwards
// trove_notification.
func (h *Handlers) registerDeleteDatabase(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodDeleteDatabase, order: rpc.Write, logArgs: true, notify: true},
		func(ctx context.Context, _ rpc.Context, a guestapi.DeleteDatabaseArgs) (void, error) {
			return void{}, h.Agent.Shared(func(m datastore.Manager) error { return m.DeleteDatabase(ctx, a.Database) })
		})
}
