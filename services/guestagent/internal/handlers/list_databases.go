package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// list_databases — call (low timeout). Payload logged. Read-only; returns [[schema...], next_marker].
func (h *Handlers) registerListDatabases(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodListDatabases, order: rpc.Read, logArgs: true},
		func(ctx context.Context, _ rpc.Context, a guestapi.ListArgs) (r guestapi.DatabasePage, err error) {
			err = h.Agent.Shared(func(m datastore.Manager) error { r, err = m.ListDatabases(ctx, a); return err })
			return r, err
		})
}
