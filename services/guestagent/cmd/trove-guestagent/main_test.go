package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"
	"github.com/trove-go/trove/pkg/conductorapi"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/rpc/rpctest"
	"github.com/trove-go/trove/pkg/testenv"
)

// The RPC-level test runs the real trove-guestagent binary against the test RabbitMQ, drives it with
// guestapi.Client and plays the conductor with an rpc.Server on a unique conductor topic.

func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "trove-guestagent")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// testAddr is a loopback address unique to this test process.
func testAddr() string {
	pid := os.Getpid()
	return fmt.Sprintf("127.77.%d.%d", 1+(pid>>8)%250, 1+pid%250)
}

// conductor is a fake trove-conductor recording what guests send.
type conductor struct {
	heartbeats chan string
	excInfo    chan string
	ends       chan string
}

func startConductor(t *testing.T, tr *rpc.Transport, topic, guestID, key string, env rpc.Envelope) *conductor {
	c := &conductor{heartbeats: make(chan string, 1000), excInfo: make(chan string, 10), ends: make(chan string, 10)}
	lookup := func(_ context.Context, id string) (rpc.PeerKeys, error) {
		if id != guestID {
			return rpc.PeerKeys{}, rpc.ErrUnknownInstance
		}
		return rpc.PeerKeys{Keys: keyring.Single(key), Envelope: env}, nil
	}
	srv := tr.NewServer(rpc.ServerConfig{Topic: topic, Server: "fake", Version: conductorapi.Version, Codec: rpc.ConductorHostCodec(lookup)})
	rpc.Register(srv, conductorapi.MethodHeartbeat, func(_ context.Context, rc rpc.Context, a conductorapi.HeartbeatArgs) (rpc.Void, error) {
		if a.InstanceID != guestID || rc.SenderInstanceID != guestID && env != rpc.EnvelopeNone {
			t.Errorf("heartbeat from %q (sender %q)", a.InstanceID, rc.SenderInstanceID)
		}
		if a.Sent < float64(time.Now().Add(-time.Hour).Unix()) {
			t.Errorf("sent = %v", a.Sent)
		}
		c.heartbeats <- a.Payload.ServiceStatus
		return rpc.Void{}, nil
	})
	rpc.Register(srv, conductorapi.MethodNotifyExcInfo, func(_ context.Context, _ rpc.Context, a conductorapi.NotifyExcInfoArgs) (rpc.Void, error) {
		c.excInfo <- a.Message
		return rpc.Void{}, nil
	})
	rpc.Register(srv, conductorapi.MethodNotifyEnd, func(_ context.Context, _ rpc.Context, a conductorapi.NotifyEndArgs) (rpc.Void, error) {
		c.ends <- fmt.Sprint(a.SerializedNotification["notification_classname"])
		return rpc.Void{}, nil
	})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return c
}

// waitStatus waits for a heartbeat with status want, skipping others.
func (c *conductor) waitStatus(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(90 * time.Second)
	var seen []string
	for {
		select {
		case s := <-c.heartbeats:
			if s == want {
				return
			}
			seen = append(seen, s)
		case <-deadline:
			t.Fatalf("no %q heartbeat; saw %v", want, seen)
		}
	}
}

func waitFor[T any](t *testing.T, ch chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(60 * time.Second):
		t.Fatalf("no %s", what)
	}
	var zero T
	return zero
}

// guest is a running agent process.
type guest struct {
	t       *testing.T
	bin     string
	confDir string
	logFile string
	cmd     *exec.Cmd
}

func (g *guest) start() {
	log, err := os.OpenFile(g.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		g.t.Fatal(err)
	}
	defer log.Close()
	g.cmd = exec.Command(g.bin, "--config-dir", g.confDir)
	g.cmd.Stdout, g.cmd.Stderr = log, log
	if err := g.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
}

func (g *guest) stop(sig syscall.Signal) {
	if g.cmd == nil {
		return
	}
	_ = g.cmd.Process.Signal(sig)
	_ = g.cmd.Wait()
	g.cmd = nil
}

func (g *guest) rssKB(field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.cmd.Process.Pid))
	if err != nil {
		g.t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	return 0
}

type flavor struct {
	manager  string
	envelope rpc.Envelope
	port     string
	pidFile  string // relative to data_dir
	login    func(addr, user, pw, db string) error
	root     string
}

func mariadbLogin(addr, user, pw, db string) error {
	cmd := exec.Command("mariadb", "--no-defaults", "-h", addr, "-u", user, "-D", db, "-N", "-B", "-e", "SELECT 1")
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+pw)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

func psqlLogin(addr, user, pw, db string) error {
	cmd := exec.Command("psql", "-X", "-q", "-h", addr, "-U", user, "-d", db, "-c", "SELECT 1")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pw, "PGCONNECT_TIMEOUT=5")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

func writeConf(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestGuestAgentOverRPC(t *testing.T) {
	url := testenv.TransportURL(t)
	bin := buildAgent(t)
	for _, f := range []flavor{
		{manager: "mariadb", envelope: rpc.EnvelopeTrove, port: "3306", pidFile: "run/mysqld.pid", login: mariadbLogin, root: "root"},
		{manager: "postgresql", envelope: rpc.EnvelopeAEAD, port: "5432", pidFile: "data/postmaster.pid", login: psqlLogin, root: "root"},
	} {
		t.Run(f.manager, func(t *testing.T) { testGuest(t, bin, url, f) })
	}
}

// env is one guest under test: the agent process, its directories, a guest client and the fake conductor.
type env struct {
	id      string // the guest id
	gc      *guestapi.Client
	cond    *conductor
	g       *guest
	rc      rpc.Context
	addr    string
	confDir string
	dataDir string
	conf    func(sizeGB string) string
}

func setup(t *testing.T, bin, url string, f flavor) *env {
	ctx := context.Background()
	id := uuid.NewString()
	key, err := keyring.NewInstanceKey()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	for _, d := range []string{filepath.Dir(tmp), tmp} { // the postgres user must reach data_dir
		_ = os.Chmod(d, 0o711)
	}
	confDir, dataDir := filepath.Join(tmp, "conf.d"), filepath.Join(tmp, "volume")
	if err := os.MkdirAll(confDir, 0o700); err != nil {
		t.Fatal(err)
	}
	condTopic := testenv.UniqueName(t, "trove-conductor-test")
	addr := testAddr()
	writeConf(t, confDir, "guest_info.conf", fmt.Sprintf(`[DEFAULT]
guest_id = %s
datastore_manager = %s
datastore_version = 1
tenant_id = p1
instance_rpc_encr_key = %s
instance_rpc_envelope = %s
`, id, f.manager, key, f.envelope))
	agentConf := func(sizeGB string) string {
		return fmt.Sprintf(`[DEFAULT]
transport_url = %s
control_exchange = trove
conductor_queue = %s
agent_heartbeat_time = 1
[local]
bind_host = %s
data_dir = %s
volume_size_gb = %s
`, url, condTopic, addr, dataDir, sizeGB)
	}
	writeConf(t, confDir, "trove-guestagent.conf", agentConf("10"))

	log := logrus.NewEntry(logrus.StandardLogger())
	tr, err := rpc.Dial(ctx, rpctest.Config(url, "trove"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	cond := startConductor(t, tr, condTopic, id, key, f.envelope)
	codec := rpc.TroveCodec(key)
	if f.envelope == rpc.EnvelopeAEAD {
		codec = rpc.AEADCodec(keyring.Single(key), id)
	}
	gc := guestapi.New(tr.Client(guestapi.Target(id), codec))
	gc.Low = 5 * time.Second
	rc := rpc.Context{RequestID: "req-" + uuid.NewString()}

	g := &guest{t: t, bin: bin, confDir: confDir, logFile: filepath.Join(tmp, "agent.log")}
	g.start()
	t.Cleanup(func() {
		g.stop(syscall.SIGTERM)
		if t.Failed() {
			b, _ := os.ReadFile(g.logFile)
			t.Logf("agent log:\n%s", b)
		}
	})
	return &env{id: id, gc: gc, cond: cond, g: g, rc: rc, addr: addr, confDir: confDir, dataDir: dataDir, conf: agentConf}
}

// ping waits until the agent answers rpc_ping.
func (e *env) ping(t *testing.T) {
	t.Helper()
	for i := 0; ; i++ {
		pctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ok, err := e.gc.RPCPing(pctx, e.rc)
		cancel()
		if err == nil && ok {
			return
		}
		if i == 30 {
			t.Fatalf("rpc_ping: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func testGuest(t *testing.T, bin, url string, f flavor) {
	ctx := context.Background()
	e := setup(t, bin, url, f)
	gc, cond, g, rc, addr, confDir, dataDir, agentConf := e.gc, e.cond, e.g, e.rc, e.addr, e.confDir, e.dataDir, e.conf
	ping := func() { e.ping(t) }
	ping()
	idleRSS := g.rssKB("VmRSS")

	// prepare: building → healthy, with a database, a user and root
	pw, rootPW := "App-Pa55word", "Root-Pa55word"
	start := time.Now()
	err := gc.Prepare(ctx, rc, guestapi.PrepareArgs{
		MemoryMB:     512,
		Databases:    []guestapi.Schema{{Name: "app"}},
		Users:        []guestapi.User{{Name: "appuser", Host: "%", Password: &pw, Databases: []guestapi.Schema{{Name: "app"}}}},
		RootPassword: &rootPW,
	})
	if err != nil {
		t.Fatal(err)
	}
	cond.waitStatus(t, "building")
	cond.waitStatus(t, "healthy")
	prepareTime := time.Since(start)

	dbs, err := gc.ListDatabases(ctx, rc, guestapi.ListArgs{})
	if err != nil || len(dbs.Items) != 1 || dbs.Items[0].Name != "app" {
		t.Fatalf("databases %+v %v", dbs, err)
	}
	users, err := gc.ListUsers(ctx, rc, guestapi.ListArgs{})
	if err != nil || len(users.Items) != 1 || users.Items[0].Name != "appuser" || len(users.Items[0].Databases) != 1 {
		t.Fatalf("users %+v %v", users, err)
	}
	if err := f.login(addr, "appuser", pw, "app"); err != nil {
		t.Fatalf("appuser login: %v", err)
	}
	if err := f.login(addr, f.root, rootPW, map[string]string{"mariadb": "mysql", "postgresql": "postgres"}[f.manager]); err != nil {
		t.Fatalf("root login: %v", err)
	}
	if on, err := gc.IsRootEnabled(ctx, rc); err != nil || !on {
		t.Fatalf("is_root_enabled %v %v", on, err)
	}
	u, err := gc.GetUser(ctx, rc, guestapi.GetUserArgs{Username: "appuser"})
	if err != nil || u == nil || u.Host != "%" {
		t.Fatalf("get_user %+v %v", u, err)
	}
	if u, err := gc.GetUser(ctx, rc, guestapi.GetUserArgs{Username: "nobody"}); err != nil || u != nil {
		t.Fatalf("get_user nobody %+v %v", u, err)
	}
	stats, err := gc.GetFilesystemStats(ctx, rc)
	if err != nil || stats.Total != 10 || stats.Used <= 0 || stats.Free <= 0 {
		t.Fatalf("stats %+v %v", stats, err)
	}

	// errors keep their kind over the wire; injection attempts are refused
	err = gc.GrantAccess(ctx, rc, guestapi.GrantAccessArgs{UserRef: guestapi.UserRef{Username: "appuser"}, Databases: []string{"x'; DROP TABLE y; --\n"}})
	if rpc.Kind(err) != "BadRequest" {
		t.Fatalf("injection grant: %v", err)
	}
	_, err = gc.ListAccess(ctx, rc, guestapi.ListAccessArgs{Username: "ghost"})
	if rpc.Kind(err) != "UserNotFound" {
		t.Fatalf("list_access ghost: %v", err)
	}

	// casts with trove_notification report to the conductor
	note := func(class string) rpc.Context {
		n := rc
		n.Notification = json.RawMessage(fmt.Sprintf(`{"notification_classname": %q, "request_id": %q, "server_type": "guest"}`, class, rc.RequestID))
		return n
	}
	if err := gc.CreateDatabase(ctx, note("trove.common.notification.DBaaSDatabaseCreate"), guestapi.CreateDatabaseArgs{Databases: []guestapi.Schema{{Name: "db2"}}}); err != nil {
		t.Fatal(err)
	}
	if got := waitFor(t, cond.ends, "notify_end"); got != "trove.common.notification.DBaaSDatabaseCreate" {
		t.Fatalf("notify_end for %s", got)
	}
	limit := 1
	page, err := gc.ListDatabases(ctx, rc, guestapi.ListArgs{Limit: &limit})
	if err != nil || len(page.Items) != 1 || page.NextMarker == nil || *page.NextMarker != "app" {
		t.Fatalf("page %+v %v", page, err)
	}

	// the volume limit: shrink → blocked and creations refused; grow back → healthy
	writeConf(t, confDir, "trove-guestagent.conf", agentConf("0.001"))
	if err := gc.ResizeFS(ctx, rc, guestapi.ResizeFSArgs{Online: true}); err != nil {
		t.Fatal(err)
	}
	cond.waitStatus(t, "blocked")
	if err := gc.CreateDatabase(ctx, note("trove.common.notification.DBaaSDatabaseCreate"), guestapi.CreateDatabaseArgs{Databases: []guestapi.Schema{{Name: "db3"}}}); err != nil {
		t.Fatal(err)
	}
	if msg := waitFor(t, cond.excInfo, "notify_exc_info"); !strings.Contains(msg, "full") {
		t.Fatalf("exc_info message %q", msg)
	}
	writeConf(t, confDir, "trove-guestagent.conf", agentConf("10"))
	if err := gc.ResizeFS(ctx, rc, guestapi.ResizeFSArgs{Online: true}); err != nil {
		t.Fatal(err)
	}
	cond.waitStatus(t, "healthy")

	// root through RPC: generated password, disable
	root, err := gc.EnableRoot(ctx, rc)
	if err != nil || root.Name != f.root || root.Password == nil || len(*root.Password) != 36 {
		t.Fatalf("enable_root %+v %v", root, err)
	}
	if err := gc.DisableRoot(ctx, rc); err != nil {
		t.Fatal(err)
	}
	if on, err := gc.IsRootEnabled(ctx, rc); err != nil || on {
		t.Fatalf("is_root_enabled after disable: %v %v", on, err)
	}

	// upgrade (local semantics): stop, keep the data, start again, record the new version
	info, err := gc.PreUpgrade(ctx, rc)
	if err != nil || info["datastore_version"] != "1" {
		t.Fatalf("pre_upgrade %v %v", info, err)
	}
	info["datastore_version"] = "2"
	if err := gc.Upgrade(ctx, rc, guestapi.UpgradeArgs{UpgradeInfo: info}); err != nil {
		t.Fatal(err)
	}
	cond.waitStatus(t, "upgrading")
	cond.waitStatus(t, "healthy")
	if err := gc.PostUpgrade(ctx, rc, guestapi.UpgradeArgs{UpgradeInfo: info}); err != nil {
		t.Fatal(err)
	}
	if info, err := gc.PreUpgrade(ctx, rc); err != nil || info["datastore_version"] != "2" {
		t.Fatalf("version after upgrade %v %v", info, err)
	}
	if err := f.login(addr, "appuser", pw, "app"); err != nil {
		t.Fatalf("appuser login after upgrade: %v", err)
	}

	// the server dies → crashed; restart → healthy; stop_db → shutdown
	pidText, err := os.ReadFile(filepath.Join(dataDir, f.pidFile))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(pidText), "\n", 2)[0]))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cond.waitStatus(t, "crashed")
	if err := gc.Restart(ctx, rc); err != nil {
		t.Fatal(err)
	}
	cond.waitStatus(t, "healthy")
	if err := gc.StopDB(ctx, rc); err != nil {
		t.Fatal(err)
	}
	cond.waitStatus(t, "shutdown")

	// agent restart: a stopped server stays stopped; after restart it runs again, and an agent killed with
	// SIGKILL comes back with its server running
	g.stop(syscall.SIGTERM)
	g.start()
	cond.waitStatus(t, "shutdown")
	if err := gc.Restart(ctx, rc); err != nil {
		t.Fatal(err)
	}
	cond.waitStatus(t, "healthy")
	g.stop(syscall.SIGKILL)
	g.start()
	ping()
	cond.waitStatus(t, "healthy")
	if err := f.login(addr, "appuser", pw, "app"); err != nil {
		t.Fatalf("appuser login after agent restart: %v", err)
	}
	t.Logf("%s: prepare (cast → healthy heartbeat) %.2fs; agent RSS idle %d kB, after prepare and restart %d kB, peak %d kB",
		f.manager, prepareTime.Seconds(), idleRSS, g.rssKB("VmRSS"), g.rssKB("VmHWM"))
}

// TestPrepareResumes: an agent that dies during prepare finds the saved prepare args when it starts again and
// finishes the prepare without a new cast.
func TestPrepareResumes(t *testing.T) {
	url := testenv.TransportURL(t)
	f := flavor{manager: "mariadb", envelope: rpc.EnvelopeTrove, login: mariadbLogin, root: "root"}
	e := setup(t, buildAgent(t), url, f)
	e.ping(t)
	e.g.stop(syscall.SIGKILL)
	pw := "Resumed-Pa55"
	args, _ := json.Marshal(guestapi.PrepareArgs{Databases: []guestapi.Schema{{Name: "resumed"}},
		Users: []guestapi.User{{Name: "ru", Host: "%", Password: &pw, Databases: []guestapi.Schema{{Name: "resumed"}}}}})
	state := filepath.Join(e.dataDir, "guest")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	writeConf(t, state, "prepare.pending.json", string(args))
	e.g.start()
	e.cond.waitStatus(t, "building")
	e.cond.waitStatus(t, "healthy")
	if err := mariadbLogin(e.addr, "ru", pw, "resumed"); err != nil {
		t.Fatalf("resumed prepare: %v", err)
	}
	if _, err := os.Stat(filepath.Join(state, "prepare.pending.json")); !os.IsNotExist(err) {
		t.Fatalf("pending prepare left behind: %v", err)
	}
}
