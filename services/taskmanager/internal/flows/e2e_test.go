package flows

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
	"github.com/trove-go/trove/pkg/testenv"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binaries builds the real trove-guestagent and trove-conductor once per test binary.
func binaries(t testing.TB) (guest, conductor string) {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "trove-flows-bin-")
		if binErr != nil {
			return
		}
		for _, pkg := range []string{"github.com/trove-go/trove/services/guestagent/cmd/trove-guestagent",
			"github.com/trove-go/trove/services/conductor/cmd/trove-conductor"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, filepath.Base(pkg)), pkg).CombinedOutput()
			if err != nil {
				binErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "trove-guestagent"), filepath.Join(binDir, "trove-conductor")
}

// startConductor runs the real trove-conductor against the env's catalog and exchange.
func (e *env) startConductor(bin string) {
	e.t.Helper()
	conf := filepath.Join(e.dir, "trove.conf")
	text := fmt.Sprintf("[DEFAULT]\ntransport_url = %s\ncontrol_exchange = %s\nconductor_queue = %s\ninst_rpc_key_encr_key = %s\n[database]\nconnection = %s\n",
		testenv.TransportURL(e.t), e.exchange, e.conductorTopic, testWrapKey, e.dsn)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		e.t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(e.dir, "conductor.log"))
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config-file", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if e.t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			e.t.Logf("conductor log:\n%s", b)
		}
	})
}

func (e *env) dumpGuestLog(id string) {
	if !e.t.Failed() {
		return
	}
	for _, name := range []string{"guest.log", "data/log/mariadbd.log"} {
		b, _ := os.ReadFile(filepath.Join(e.drv.InstanceDir(id), name))
		e.t.Logf("%s of %s:\n%s", name, id, b)
	}
}

func newGuestEnv(t testing.TB) *env {
	t.Helper()
	guest, conductor := binaries(t)
	e := newEnv(t, envOpts{guestBinary: guest})
	e.startConductor(conductor)
	return e
}

// The whole chain on this host, per datastore: the taskmanager creates an instance with the local driver, the
// real guest agent prepares the database server and heartbeats through the real conductor, the user's database
// answers; restart, resize and delete follow.
func TestInstanceLifecycleWithRealGuest(t *testing.T) {
	e := newGuestEnv(t)
	cases := []struct {
		name, image, manager, version string
		dsv                           catalog.DatastoreVersion
		port                          int
	}{
		{"mariadb", "mariadb-local", "mariadb", "10.11", e.version, 3306},
		{"postgresql", "postgresql-15-local", "postgresql", "15", e.pgVersion, 5432},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lifecycle(t, e, c.dsv, createArgsFor(e.instanceOf(c.dsv, "db-e2e-"+c.name, catalog.EnvelopeAEAD), c.image, c.manager, c.version), c.port)
		})
	}
}

// userQuery runs SELECT 1 as the created user on the created database.
func userQuery(manager, addr string, port int) error {
	if manager == "postgresql" {
		cmd := exec.Command("psql", "-h", addr, "-p", fmt.Sprint(port), "-U", "appuser", "-d", "appdb", "-tAc", "SELECT 1")
		cmd.Env = append(os.Environ(), "PGPASSWORD=secret-pw-1", "PGCONNECT_TIMEOUT=5")
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "1" {
			return fmt.Errorf("psql: %v: %s", err, out)
		}
		return nil
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = "appuser", "secret-pw-1", "tcp", fmt.Sprintf("%s:%d", addr, port), "appdb"
	cfg.Timeout = 5 * time.Second
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	var one int
	return db.QueryRow("SELECT 1").Scan(&one)
}

func lifecycle(t *testing.T, e *env, dsv catalog.DatastoreVersion, args taskapi.CreateInstanceArgs, port int) {
	ctx := context.Background()
	id := args.InstanceID
	defer e.dumpGuestLog(id)
	if err := e.m.CreateInstance(ctx, rc, args); err != nil {
		t.Fatalf("create: %v", err)
	}
	row := e.get(id)
	if row.Task() != status.TaskNone {
		t.Fatalf("task after create %q", row.TaskDescription)
	}
	if st := e.guestStatus(id); st != "healthy" && st != "running" {
		t.Fatalf("guest status %q", st)
	}
	srv, err := e.drv.GetServer(ctx, row.ComputeInstanceID)
	if err != nil || srv.Status != compute.ServerActive {
		t.Fatalf("server %+v %v", srv, err)
	}
	addr := srv.Addresses[0].Addr
	query := func() error { return userQuery(dsv.Manager, addr, port) }
	if err := query(); err != nil {
		t.Fatalf("user database on %s: %v", addr, err)
	}

	// restart
	if err := e.db.SetTask(ctx, id, status.TaskRebooting); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Restart(ctx, rc, id); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if row := e.get(id); row.Task() != status.TaskNone {
		t.Fatalf("task after restart %q", row.TaskDescription)
	}
	waitFor(t, "database back after restart", func() bool { return query() == nil })

	// resize volume
	if err := e.db.SetTask(ctx, id, status.TaskResizing); err != nil {
		t.Fatal(err)
	}
	if err := e.m.ResizeVolume(ctx, rc, id, 2); err != nil {
		t.Fatalf("resize: %v", err)
	}
	if row := e.get(id); row.Task() != status.TaskNone || row.VolumeSize != 2 {
		t.Fatalf("after resize task %q size %d", row.TaskDescription, row.VolumeSize)
	}
	if v, _ := e.drv.GetVolume(ctx, row.VolumeID); v.SizeGB != 2 {
		t.Fatalf("volume %+v", v)
	}

	// upgrade (MariaDB only: one PostgreSQL version is installed)
	if dsv.Manager == "mariadb" {
		e.upgrade(t, id)
		if row := e.get(id); row.Task() != status.TaskNone {
			t.Fatalf("task after upgrade %q", row.TaskDescription)
		}
		guest, _, err := e.m.guest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if info, err := guest.PreUpgrade(ctx, rc); err != nil || info["datastore_version"] != "10.11.99" {
			t.Fatalf("guest version after upgrade %v %v", info, err)
		}
		if err := query(); err != nil {
			t.Fatalf("user database after upgrade: %v", err)
		}
	}

	// delete
	dir := e.drv.InstanceDir(id)
	if err := e.db.SetTask(ctx, id, status.TaskDeleting); err != nil {
		t.Fatal(err)
	}
	if err := e.m.DeleteInstance(ctx, rc, id); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if row := e.get(id); !row.Deleted {
		t.Fatal("row not deleted")
	}
	if left := processesUsing(dir); len(left) > 0 {
		t.Fatalf("processes still using %s: %v", dir, left)
	}
	if err := query(); err == nil {
		t.Fatal("the database still answers after delete")
	}
	assertNoGuestQueues(t, id)
}

// processesUsing lists command lines of live processes that mention dir.
func processesUsing(dir string) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(b), dir+"/") {
			continue
		}
		st, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if i := strings.LastIndexByte(string(st), ')'); i > 0 && len(st) > i+2 && st[i+2] == 'Z' {
			continue
		}
		out = append(out, strings.ReplaceAll(string(b), "\x00", " "))
	}
	return out
}

// BenchmarkCreateToActive measures create_instance → task NONE (guest healthy) with the real guest agent and
// MariaDB on the local driver, one instance at a time; reports p50 and max seconds.
func BenchmarkCreateToActive(b *testing.B) {
	e := newGuestEnv(b)
	ctx := context.Background()
	var took []time.Duration
	for i := 0; i < b.N; i++ {
		in := e.instance(fmt.Sprintf("bench-%d", i), catalog.EnvelopeAEAD)
		start := time.Now()
		if err := e.m.CreateInstance(ctx, rc, createArgs(in, "mariadb-local")); err != nil {
			e.dumpGuestLog(in.ID)
			b.Fatalf("create: %v", err)
		}
		took = append(took, time.Since(start))
		b.StopTimer()
		if err := e.m.DeleteInstance(ctx, rc, in.ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(percentile(took, 0.5).Seconds(), "p50-s")
	b.ReportMetric(percentile(took, 1).Seconds(), "max-s")
}

func percentile(d []time.Duration, p float64) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[int(float64(len(d)-1)*p)]
}

// The taskmanager stops while the real guest is preparing; a new taskmanager resumes the build to ACTIVE.
func TestResumeBuildWithRealGuest(t *testing.T) {
	e := newGuestEnv(t)
	ctx := context.Background()
	in := e.instance("db-resume", catalog.EnvelopeAEAD)
	defer e.dumpGuestLog(in.ID)
	e.m.Go(in.ID, "create", func(ctx context.Context) error { return e.m.CreateInstance(ctx, rc, createArgs(in, "mariadb-local")) })
	waitFor(t, "guest started preparing", func() bool { return e.guestStatus(in.ID) != "new" })
	if err := e.m.Stop(ctx); err != nil { // the "crash": the flow is cancelled mid-wait
		t.Fatal(err)
	}
	if row := e.get(in.ID); row.Task() != status.TaskBuilding {
		t.Fatalf("task after the stop %q, want still building", row.TaskDescription)
	}
	m2 := New(e.m.Deps)
	t.Cleanup(func() { _ = m2.Stop(context.Background()) })
	if err := m2.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	m2.Wait()
	if row := e.get(in.ID); row.Task() != status.TaskNone {
		t.Fatalf("task after resume %q", row.TaskDescription)
	}
	if st := e.guestStatus(in.ID); st != "healthy" && st != "running" {
		t.Fatalf("guest status %q", st)
	}
}
