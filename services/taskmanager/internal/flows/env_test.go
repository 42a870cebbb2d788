package flows

import (
	"context"
	"fmt"
	"github.com/trove-go/trove/pkg/backupstore"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/compute/local"
	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/rpc/rpctest"
	"github.com/trove-go/trove/pkg/testenv"
	"github.com/trove-go/trove/services/taskmanager/internal/guestbroker"
)

const testWrapKey = "flows-test-inst-rpc-key-encr-key-0123"

// idleGuest stands in for a guest that never answers (timeouts, resumption, delete without a guest).
const idleGuest = "#!/bin/sh\nexec sleep 600 # $*\n"

// env is one test's world: a fresh catalog, its own exchange on the test RabbitMQ, a local compute driver with
// its own state directory and address range, and a manager.
type env struct {
	t              testing.TB
	db             *catalog.DB
	dsn            string
	tr             *rpc.Transport
	drv            *local.Driver
	m              *Manager
	exchange       string
	conductorTopic string
	backupDir      string                   // the directory store's root
	stateDir       string                   // the local driver's
	version        catalog.DatastoreVersion // mariadb 10.11, the default
	pgVersion      catalog.DatastoreVersion // postgresql 15
	newVersion     catalog.DatastoreVersion // mariadb 10.11.99 (image mariadb-local-2, the same binaries), upgrades
	dir            string
	clock          *clock
	broker         *guestbroker.Accounts // envOpts.broker
}

// clock is the manager's TimeNow: real time plus an offset tests move forward.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.offset) }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.offset += d; c.mu.Unlock() }

type envOpts struct {
	guestBinary string // "" = idleGuest script
	// storage: the backup store's options in the guest's and the taskmanager's configuration ("" = a
	// directory store under the env's directory)
	usageTimeout time.Duration
	storage      string
	// broker: per-guest broker accounts through the test broker's management API (e.broker); pythonShared is
	// [guest_broker] python_guests_shared_account.
	broker, pythonShared bool
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, dir: t.TempDir(), clock: &clock{}}
	e.dsn = testenv.NewDatabase(t)
	db, err := catalog.Open(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e.db = db
	version := func(manager, name, image string) catalog.DatastoreVersion {
		if _, err := db.UpdateDatastore(ctx, manager, ""); err != nil {
			t.Fatal(err)
		}
		v, err := db.UpdateDatastoreVersion(ctx, catalog.VersionUpdate{Datastore: manager, Name: name, Manager: manager,
			ImageID: image, Active: true, RegistryExt: catalog.DefaultRegistryExt(manager),
			ReplStrategy: catalog.DefaultReplStrategy(manager, "", "")})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	e.version = version("mariadb", "10.11", "mariadb-local")
	e.pgVersion = version("postgresql", "15", "postgresql-15-local")
	e.newVersion = version("mariadb", "10.11.99", "mariadb-local-2")
	log := logrus.New().WithField("test", t.Name())
	e.exchange = testenv.UniqueName(t, "trove-test")
	e.conductorTopic = testenv.UniqueName(t, "trove-conductor")
	e.tr, err = rpc.Dial(ctx, rpctest.Config(testenv.TransportURL(t), e.exchange), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.tr.Close() })

	bin := o.guestBinary
	if bin == "" {
		bin = filepath.Join(e.dir, "idle-guest")
		if err := os.WriteFile(bin, []byte(idleGuest), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A /24 of its own inside 127.77.0.0/16 so concurrent test packages do not share addresses.
	pool := netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 77, byte(1 + rand.IntN(250)), 0}), 24)
	// A short state dir: the guest's unix socket path (<state>/instances/<uuid>/data/run/mysqld.sock) must stay
	// under 108 bytes, which t.TempDir()'s long names break.
	stateDir, err := os.MkdirTemp("", "tl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(stateDir) })
	e.stateDir = stateDir
	e.drv = local.New(local.Config{StateDir: stateDir, AddressPool: pool, GuestAgentBinary: bin,
		Images: map[string]string{"mariadb-local": "/usr/sbin", "mariadb-local-2": "/usr/sbin", "postgresql-15-local": "/usr/lib/postgresql/15/bin"}, Flavors: local.DefaultFlavors, StopTimeout: 5 * time.Second}, log)

	guestConf := filepath.Join(e.dir, "trove-guestagent.conf")
	// Backups go to a directory store (the local driver's default), one directory per project.
	e.backupDir = filepath.Join(e.dir, "backups")
	storage := o.storage
	if storage == "" {
		storage = "storage_strategy = directory\n[backup_directory]\nroot = " + e.backupDir + "\n"
	}
	// Every backup of these tests is encrypted (pkg/backupcrypt), with a key of this test's own.
	kek := fmt.Sprintf("%016x%016x", rand.Uint64(), rand.Uint64())
	conf := fmt.Sprintf("[DEFAULT]\ntransport_url = %s\ncontrol_exchange = %s\nconductor_queue = %s\nagent_heartbeat_time = 1\nreport_interval = 1\n%s\n[backup_encryption]\nkey = %s\n",
		testenv.TransportURL(t), e.exchange, e.conductorTopic, storage, kek)
	if err := os.WriteFile(guestConf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	usage := o.usageTimeout
	if usage == 0 {
		usage = 1800 * time.Second
	}
	e.m = New(Deps{Catalog: db, Compute: e.drv, Transport: e.tr, Log: log, TimeNow: e.clock.now, Config: Config{
		UsageTimeout: usage, UsageSleepTime: 5 * time.Second, AgentCallLow: 3 * time.Second, AgentCallHigh: 180 * time.Second,
		VolumeTimeout: 60 * time.Second, GuestConfigFile: guestConf, InstRPCKeyEncrKey: testWrapKey,
		RetryBudget: 2, RetryDelay: 100 * time.Millisecond,
	}})
	// the taskmanager reads the same store options (make run writes them into trove.conf too)
	storeFile, err := config.LoadFiles(guestConf)
	if err != nil {
		t.Fatal(err)
	}
	storeCfg, err := backupstore.FromConfig(storeFile)
	if err != nil {
		t.Fatal(err)
	}
	e.m.Storage = StorageFrom(storeCfg)
	if o.broker {
		api, user, pass := testenv.RabbitManagement(t)
		admin, err := guestbroker.NewAdmin(guestbroker.Config{ManagementURL: api, ManagementUser: user, ManagementPassword: pass, ManagementTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		e.broker = &guestbroker.Accounts{Admin: admin, Config: guestbroker.Config{PerGuestAccounts: true, PythonGuestsSharedAccount: o.pythonShared},
			TransportURL: testenv.TransportURL(t), ControlExchange: e.exchange, ConductorTopic: e.conductorTopic}
		e.m.Broker = e.broker
	}
	t.Cleanup(func() { _ = e.m.Stop(context.Background()) })
	return e
}

// instance inserts an instance as trove-api does (task BUILDING, status new, a wrapped per-instance key and its
// rpc_peers envelope).
func (e *env) instance(name string, envelope string) catalog.Instance {
	e.t.Helper()
	return e.instanceOf(e.version, name, envelope)
}

func (e *env) instanceOf(v catalog.DatastoreVersion, name string, envelope string) catalog.Instance {
	e.t.Helper()
	ctx := context.Background()
	in := catalog.Instance{Name: name, TenantID: "tenant-1", FlavorID: "1", VolumeSize: 1, DatastoreVersionID: v.ID}
	if envelope != "" {
		k, err := keyring.NewInstanceKey()
		if err != nil {
			e.t.Fatal(err)
		}
		if in.EncryptedKey, err = keyring.Wrap(testWrapKey, k); err != nil {
			e.t.Fatal(err)
		}
	}
	rows, err := e.db.CreateInstance(ctx, catalog.CreateInstanceParams{Instances: []catalog.Instance{in},
		Deltas: map[string]int{catalog.ResourceInstances: 1, catalog.ResourceVolumes: 1, catalog.ResourceRAM: 512}, Defaults: catalog.TroveDefaults})
	if err != nil {
		e.t.Fatal(err)
	}
	if envelope != "" {
		if err := e.db.SetRPCPeer(ctx, catalog.RPCPeer{InstanceID: rows[0].ID, Envelope: envelope}); err != nil {
			e.t.Fatal(err)
		}
	}
	e.t.Cleanup(func() { _ = e.drv.DeleteServer(context.Background(), rows[0].ID) })
	return rows[0]
}

// addrOf is the address of an instance's server.
func (e *env) addrOf(id string) string {
	e.t.Helper()
	srv, err := e.drv.GetServer(context.Background(), e.get(id).ComputeInstanceID)
	if err != nil {
		e.t.Fatal(err)
	}
	return srv.Addresses[0].Addr
}

func (e *env) get(id string) catalog.Instance {
	e.t.Helper()
	in, err := e.db.GetInstanceAny(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return in
}

func (e *env) guestStatus(id string) string {
	e.t.Helper()
	r, err := e.db.GetServiceStatus(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r.Status().Description
}

func (e *env) fault(id string) string {
	e.t.Helper()
	f, err := e.db.GetFault(context.Background(), id)
	if err != nil {
		e.t.Fatalf("fault of %s: %v", id, err)
	}
	return f.Message + " " + f.Details
}

// Wait blocks until no flow runs.
func (m *Manager) Wait() { m.wg.Wait() }
