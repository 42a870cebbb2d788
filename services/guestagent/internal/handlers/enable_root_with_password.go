package handlers

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// enable_root_with_password — call (high timeout). Payload NOT logged (root_password). Idempotent.
func (h *Handlers) registerEnableRootWithPassword(srv *rpc.Server) {
	handle(h, srv, spec{name: guestapi.MethodEnableRootWithPassword, order: rpc.Write},
		func(ctx context.Context, _ rpc.Context, a guestapi.EnableRootWithPasswordArgs) (r guestapi.User, err error) {
			pw := ""
			if a.RootPassword != nil {
				pw = *a.RootPassword
			}
			err = h.Agent.Shared(func(m datastore.Manager) error { r, err = m.EnableRoot(ctx, pw); return err })
			return r, err
		})
}
