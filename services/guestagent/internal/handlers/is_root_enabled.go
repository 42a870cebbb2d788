package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// is_root_enabled — call (low timeout). No payload. Read-only.
func (h *Handlers) registerIsRootEnabled(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodIsRootEnabled, order: rpc.Read, logArgs: true},
		func(ctx context.Context, _ rpc.Context, _ guestapi.NoArgs) (on bool, err error) {
			err = h.Agent.Shared(func(m datastore.Manager) error { on, err = m.IsRootEnabled(ctx); return err })
			return on, err
		})
}
