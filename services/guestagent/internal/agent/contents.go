package agent

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// Contents is get_content_manifest's answer (restore drills; datastore.Contents). create_backup takes the
// manifest (no checksums) when a backup completes; a drill asks the restored instance for both.
func (a *Agent) Contents(ctx context.Context, checksums bool) (c guestapi.Contents, err error) {
	err = a.Shared(func(m datastore.Manager) error {
		c, err = datastore.Contents(ctx, m, checksums)
		return err
	})
	return c, err
}
