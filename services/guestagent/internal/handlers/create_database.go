package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
)

// create_database — cast. Payload logged (names, character sets). Not resumed (a cast lost with the agent is
// lost, as in Trove), but idempotent (CREATE ... IF NOT EXISTS). Refused when the volume is full. Each database
// on its own: one the server refuses does not drop the others. Forwards trove_notification; a failure without
// one is still reported (notify_exc_info → a fault on the instance naming the database: the API answered 202).
func (h *Handlers) registerCreateDatabase(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodCreateDatabase, order: rpc.Write, logArgs: true, notify: true, fault: classDatabaseCreate},
		func(ctx context.Context, _ rpc.Context, a guestapi.CreateDatabaseArgs) (void, error) {
			return void{}, h.Agent.CreateDatabases(ctx, a.Databases)
		})
}
