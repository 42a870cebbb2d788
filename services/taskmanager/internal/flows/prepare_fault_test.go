package flows

import (
	"context"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
)

// No silent failure (issue 12): with the real guest and conductor, a create whose database the PostgreSQL server
// refuses (a well-formed locale this host does not have) ends ERROR with the guest's fault naming the database
// and the reason, never ACTIVE; the valid user of the same request was still created.
func TestPrepareFailureFailsBuildWithGuestFault(t *testing.T) {
	e := newGuestEnv(t)
	in := e.instanceOf(e.pgVersion, "db-prepare-fault", catalog.EnvelopeAEAD)
	defer e.dumpGuestLog(in.ID)
	args := createArgsFor(in, "postgresql-15-local", "postgresql", "15")
	de := "de_DE.utf8"
	args.Databases = []taskapi.Database{{Name: "bad", Collate: &de}, {Name: "appdb"}}
	if err := e.m.CreateInstance(context.Background(), rc, args); err == nil {
		t.Fatal("create succeeded although the guest could not create a database")
	}
	row := e.get(in.ID)
	if row.Task() != status.TaskBuildingErrorTimeoutGA {
		t.Fatalf("task %q", row.TaskDescription)
	}
	// the conductor may store the guest's fault just after the taskmanager saw `failed to spawn`: it wins
	var f string
	waitFor(t, "the guest's fault", func() bool {
		f = e.fault(in.ID)
		return strings.Contains(f, `database "bad" not created`)
	})
	if !strings.Contains(f, "de_DE.utf8") || strings.Contains(f, "secret-pw-1") {
		t.Fatalf("fault %q", f)
	}
	srv, err := e.drv.GetServer(context.Background(), e.get(in.ID).ComputeInstanceID)
	if err != nil || len(srv.Addresses) == 0 {
		t.Fatalf("server %+v %v", srv, err)
	}
	if err := userQuery("postgresql", srv.Addresses[0].Addr, 5432); err != nil {
		t.Fatalf("the valid user on the valid database: %v", err)
	}
}
