package flows

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc/rpctest"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/testenv"
	"github.com/trove-go/trove/services/taskmanager/internal/guestbroker"
)

// guestAccountExists asks the management API whether the instance's guest account exists.
func (e *env) guestAccountExists(id string) bool {
	e.t.Helper()
	ok, err := e.broker.Admin.Exists(context.Background(), guestbroker.UserName(id))
	if err != nil {
		e.t.Fatal(err)
	}
	return ok
}

// guestTransportURL is the transport_url written into the instance's trove-guestagent.conf.
func (e *env) guestTransportURL(id string) (string, *config.File) {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.drv.InstanceDir(id), compute.GuestConfigPath))
	if err != nil {
		e.t.Fatal(err)
	}
	f, err := config.Parse(string(b))
	if err != nil {
		e.t.Fatal(err)
	}
	return f.String("DEFAULT", "transport_url", ""), f
}

func sharedPassword(t testing.TB) string {
	u, err := url.Parse(testenv.TransportURL(t))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := u.User.Password()
	return p
}

// With per-guest accounts the real guest runs on its own account, written into its trove-guestagent.conf in
// place of the shared one: prepare reaches it, its heartbeats reach the conductor (ACTIVE), its answers reach
// the taskmanager (restart is a call); the account cannot bind to another topic; delete removes it.
func TestGuestRunsOnItsOwnBrokerAccount(t *testing.T) {
	guest, conductor := binaries(t)
	e := newEnv(t, envOpts{guestBinary: guest, broker: true})
	e.startConductor(conductor)
	ctx := context.Background()
	in := e.instance("db-own-account", catalog.EnvelopeAEAD)
	id := in.ID
	defer e.dumpGuestLog(id)
	if err := e.m.CreateInstance(ctx, rc, createArgs(in, "mariadb-local")); err != nil {
		t.Fatalf("create: %v", err)
	}
	if row := e.get(id); row.Task() != status.TaskNone {
		t.Fatalf("task after create %q", row.TaskDescription)
	}
	turl, f := e.guestTransportURL(id)
	if !strings.Contains(turl, "//"+guestbroker.UserName(id)+":") {
		t.Fatalf("guest transport_url %q is not its own account", turl)
	}
	b, _ := os.ReadFile(filepath.Join(e.drv.InstanceDir(id), compute.GuestConfigPath))
	if strings.Contains(string(b), sharedPassword(t)) {
		t.Fatal("the control plane's broker password is in the guest's configuration")
	}
	if !f.Bool("guest_broker", "restricted_account", false) {
		t.Fatal("restricted_account not set in the guest's configuration")
	}
	if !e.guestAccountExists(id) {
		t.Fatal("no guest account on the broker")
	}
	// a call answered by the guest on its account (reply through the default exchange)
	if err := e.db.SetTask(ctx, id, status.TaskRebooting); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Restart(ctx, rc, id); err != nil {
		t.Fatalf("restart: %v", err)
	}
	p, err := rpctest.NewProbe(turl)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Bind(guestapi.Topic(id), e.exchange, "taskmanager"); !rpctest.AccessRefused(err) {
		t.Errorf("binding the guest's queue to the taskmanager topic: %v", err)
	}
	p.Close()

	if err := e.db.SetTask(ctx, id, status.TaskDeleting); err != nil {
		t.Fatal(err)
	}
	if err := e.m.DeleteInstance(ctx, rc, id); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if e.guestAccountExists(id) {
		t.Fatal("guest account left after delete")
	}
	if _, err := rpctest.NewProbe(turl); err == nil {
		t.Fatal("the deleted instance's account still logs in")
	}
}

// A build that fails after the account was made (unknown image: the server is never created) removes it.
func TestFailedBuildRemovesGuestBrokerAccount(t *testing.T) {
	e := newEnv(t, envOpts{broker: true})
	rec := &recordingAccounts{GuestAccounts: e.broker}
	e.m.Broker = rec
	in := e.instance("db-broker-fail", catalog.EnvelopeAEAD)
	if err := e.m.CreateInstance(context.Background(), rc, createArgs(in, "no-such-image")); err == nil {
		t.Fatal("create with an unknown image succeeded")
	}
	if rec.issued != 1 || rec.revoked != 1 {
		t.Fatalf("accounts issued %d revoked %d, want 1 and 1", rec.issued, rec.revoked)
	}
	if e.guestAccountExists(in.ID) {
		t.Fatal("guest account left after a failed build")
	}
}

// Trove's Python guest cannot run on a restricted account: without the legacy option its build fails with a
// fault naming the option and no account; with python_guests_shared_account it keeps guest_config's account.
func TestPythonGuestBrokerAccount(t *testing.T) {
	ctx := context.Background()
	t.Run("refused", func(t *testing.T) {
		e := newEnv(t, envOpts{broker: true})
		in := e.instance("db-py-refused", catalog.EnvelopeTrove)
		if err := e.m.CreateInstance(ctx, rc, createArgs(in, "mariadb-local")); err == nil {
			t.Fatal("create succeeded")
		}
		if got := e.get(in.ID); got.Task() != status.TaskBuildingErrorServer || got.ComputeInstanceID != "" {
			t.Fatalf("task %q server %q", got.TaskDescription, got.ComputeInstanceID)
		}
		if f := e.fault(in.ID); !strings.Contains(f, "python_guests_shared_account") {
			t.Fatalf("fault %q does not name the option", f)
		}
		if e.guestAccountExists(in.ID) {
			t.Fatal("account created for a Python guest")
		}
	})
	t.Run("legacy shared account", func(t *testing.T) {
		e := newEnv(t, envOpts{broker: true, pythonShared: true})
		in := e.instance("db-py-shared", catalog.EnvelopeTrove)
		files, err := e.m.guestFiles(ctx, in, e.version)
		if err != nil {
			t.Fatal(err)
		}
		f, err := config.Parse(files[compute.GuestConfigPath])
		if err != nil {
			t.Fatal(err)
		}
		if got := f.String("DEFAULT", "transport_url", ""); got != testenv.TransportURL(t) || f.Bool("guest_broker", "restricted_account", false) {
			t.Fatalf("Python guest in legacy mode: transport_url %q, restricted %v", got, f.Bool("guest_broker", "restricted_account", false))
		}
		if e.guestAccountExists(in.ID) {
			t.Fatal("account created for a Python guest in legacy mode")
		}
	})
}

type recordingAccounts struct {
	GuestAccounts
	issued, revoked int
}

func (r *recordingAccounts) GuestConfig(ctx context.Context, id, text string, python bool) (string, error) {
	r.issued++
	return r.GuestAccounts.GuestConfig(ctx, id, text, python)
}

func (r *recordingAccounts) Revoke(ctx context.Context, id string) error {
	r.revoked++
	return r.GuestAccounts.Revoke(ctx, id)
}
