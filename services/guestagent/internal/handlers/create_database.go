package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// create_database — cast. Payload logged (names, character sets). Not resumed (a cast lost with the agent is
// lost, as in Trove), but idempotent (CREATE ... IF NOT EXISTS). Refused when the volume is full. Forwards
// trove_notification.
func (h *Handlers) registerCreateDatabase(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodCreateDatabase, order: rpc.Write, logArgs: true, notify: true},
		func(ctx context.Context, _ rpc.Context, a guestapi.CreateDatabaseArgs) (void, error) {
			return void{}, h.Agent.Grow(func(m datastore.Manager) error { return m.CreateDatabases(ctx, a.Databases) })
		})
}
