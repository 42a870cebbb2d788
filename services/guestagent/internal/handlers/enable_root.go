package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// enable_root — call (high timeout). No payload; the RESULT holds the generated password and is never logged.
// Re-running resets the password.
func (h *Handlers) registerEnableRoot(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodEnableRoot, order: rpc.Write, logArgs: true},
		func(ctx context.Context, _ rpc.Context, _ guestapi.NoArgs) (r guestapi.User, err error) {
			err = h.Agent.Shared(func(m datastore.Manager) error { r, err = m.EnableRoot(ctx, ""); return err })
			return r, err
		})
}
