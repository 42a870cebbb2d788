package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/keystone"
	"github.com/trove-go/trove/pkg/keystone/keystonetest"
	"github.com/trove-go/trove/pkg/policy"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
	"github.com/trove-go/trove/pkg/testenv"
)

// Projects and tokens of the handler tests.
const (
	projDemo  = "11111111111111111111111111111111"
	projDemo2 = "22222222222222222222222222222222"
	projAdmin = "33333333333333333333333333333333"
)

var testTokens = map[string]keystone.Token{
	"demo":   {UserID: "u-demo", ProjectID: projDemo, Roles: []string{"member", "reader"}},
	"demo2":  {UserID: "u-demo2", ProjectID: projDemo2, Roles: []string{"member", "reader"}},
	"reader": {UserID: "u-reader", ProjectID: projDemo, Roles: []string{"reader"}},
	"admin":  {UserID: "u-admin", ProjectID: projAdmin, Roles: []string{"admin", "member", "reader"}},
}

// taskCall is one cast the double received.
type taskCall struct {
	Method string
	RC     rpc.Context
	Args   any
}

// recordingTM is the in-process TaskManager double: it validates args like the real client and records casts.
type recordingTM struct {
	mu    sync.Mutex
	calls []taskCall
	fail  error
}

type validator interface{ Validate() error }

func (m *recordingTM) record(method string, rc rpc.Context, a validator) error {
	if err := a.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.calls = append(m.calls, taskCall{method, rc, a})
	return nil
}

func (m *recordingTM) CreateInstance(_ context.Context, rc rpc.Context, a taskapi.CreateInstanceArgs) error {
	return m.record(taskapi.MethodCreateInstance, rc, a)
}
func (m *recordingTM) DeleteInstance(_ context.Context, rc rpc.Context, a taskapi.DeleteInstanceArgs) error {
	return m.record(taskapi.MethodDeleteInstance, rc, a)
}
func (m *recordingTM) Restart(_ context.Context, rc rpc.Context, a taskapi.RestartArgs) error {
	return m.record(taskapi.MethodRestart, rc, a)
}
func (m *recordingTM) ResizeVolume(_ context.Context, rc rpc.Context, a taskapi.ResizeVolumeArgs) error {
	return m.record(taskapi.MethodResizeVolume, rc, a)
}
func (m *recordingTM) Upgrade(_ context.Context, rc rpc.Context, a taskapi.UpgradeArgs) error {
	return m.record(taskapi.MethodUpgrade, rc, a)
}

func (m *recordingTM) PromoteToReplicaSource(_ context.Context, rc rpc.Context, a taskapi.ReplicationArgs) error {
	return m.record(taskapi.MethodPromoteToReplicaSource, rc, a)
}
func (m *recordingTM) EjectReplicaSource(_ context.Context, rc rpc.Context, a taskapi.ReplicationArgs) error {
	return m.record(taskapi.MethodEjectReplicaSource, rc, a)
}
func (m *recordingTM) DetachReplica(_ context.Context, rc rpc.Context, a taskapi.ReplicationArgs) error {
	return m.record(taskapi.MethodDetachReplica, rc, a)
}

func (m *recordingTM) methods() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, c := range m.calls {
		out = append(out, c.Method)
	}
	return out
}

// env is one handler-test world: a fresh migrated catalog with datastores, the API and its double.
type env struct {
	t       testing.TB
	db      *catalog.DB
	sql     *sqlx.DB // the same catalog for checks no catalog method offers
	api     *API
	h       http.Handler
	tm      *recordingTM
	mysql   catalog.DatastoreVersion // mysql 8.0, active, default
	mysql57 catalog.DatastoreVersion // mysql 5.7, inactive
}

func testConfig() Config {
	cfg := Config{
		EnableSecureRPC: true, InstRPCKeyEncrKey: "emYjgHFqfXNB1NGehAFIUeoyw4V4XwWHEaKP", MaxAcceptedVolumeSize: 10,
		Quotas: catalog.TroveDefaults, InstancesPageSize: 20, Region: "RegionOne", HeartbeatExpiry: 90 * time.Second,
		RunningBackupsExpires: 72 * time.Hour, StorageStrategy: "directory", BackupSwiftContainer: "database_backups",
		HealthcheckDisableFile: "/nonexistent/healthcheck_disable", MaxBodyBytes: 1 << 20, DatastoreCacheTTL: 0,
		Flavors:  []Flavor{{ID: "1", Name: "tiny", RAM: 512, VCPUs: 1}, {ID: "2", Name: "small", RAM: 1024, VCPUs: 1}, {ID: "07", Name: "odd", RAM: 256, VCPUs: 1}},
		Managers: managerDefaults,
	}
	return cfg
}

func newEnv(t testing.TB, mutate ...func(*Config)) *env {
	t.Helper()
	dsn := testenv.NewDatabase(t)
	db, err := catalog.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	raw, err := sqlx.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	ctx := context.Background()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, sql: raw, tm: &recordingTM{}}
	for _, ds := range []string{"mysql", "postgresql"} {
		if _, err := db.UpdateDatastore(ctx, ds, ""); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(ds, name, mgr string, active bool) catalog.DatastoreVersion {
		v, err := db.UpdateDatastoreVersion(ctx, catalog.VersionUpdate{Datastore: ds, Name: name, Manager: mgr, ImageID: "img-" + name,
			Active: active, RegistryExt: catalog.DefaultRegistryExt(mgr), ReplStrategy: catalog.DefaultReplStrategy(mgr, "", "")})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	e.mysql = mk("mysql", "8.0", "mysql", true)
	e.mysql57 = mk("mysql", "5.7", "mysql", false)
	mk("postgresql", "15", "postgresql", false)
	if _, err := db.UpdateDatastore(ctx, "mysql", "8.0"); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	enforcer, err := policy.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	if os.Getenv("API_TEST_LOG") != "" {
		log.SetOutput(os.Stderr)
	}
	e.api = New(Deps{Config: cfg, Catalog: db, Validator: keystonetest.StaticValidator{Tokens: testTokens},
		WWWAuthenticate: `Keystone uri="http://127.0.0.1:5000"`, Policy: enforcer, TaskManager: e.tm, Log: logrus.NewEntry(log)})
	e.h = e.api.Handler()
	return e
}

// response is a recorded reply with its decoded JSON body.
type response struct {
	Code   int
	Header http.Header
	Raw    string
	Body   map[string]any
}

// faultName is the single key of a Trove fault body.
func (r response) faultName() string {
	if len(r.Body) != 1 {
		return ""
	}
	for k := range r.Body {
		return k
	}
	return ""
}

func (r response) faultMessage() string {
	m, _ := r.Body[r.faultName()].(map[string]any)
	s, _ := m["message"].(string)
	return s
}

func (e *env) do(token, method, path string, body any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Host = "api.test:8779"
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	out := response{Code: rec.Code, Header: rec.Header(), Raw: rec.Body.String()}
	if rec.Body.Len() > 0 {
		_ = json.Unmarshal(rec.Body.Bytes(), &out.Body)
	}
	return out
}

// count returns a row count of a catalog table.
func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.sql.Get(&n, query, args...); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// createInstance creates an instance through the API as token and returns its id.
func (e *env) createInstance(token, name string) string {
	e.t.Helper()
	r := e.do(token, "POST", "/v1.0/"+testTokens[token].ProjectID+"/instances", map[string]any{"instance": map[string]any{
		"name": name, "flavorRef": "1", "volume": map[string]any{"size": 1}, "datastore": map[string]any{"type": "mysql", "version": "8.0"}}})
	if r.Code != 200 {
		e.t.Fatalf("create %s: %d %s", name, r.Code, r.Raw)
	}
	return r.Body["instance"].(map[string]any)["id"].(string)
}

// markActive plays the taskmanager: the server exists, the build is done, the guest is healthy.
func (e *env) markActive(id string) {
	e.t.Helper()
	ctx := context.Background()
	if err := e.db.SetServer(ctx, id, "server-"+id[:8], ""); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.SetTask(ctx, id, statusTaskNone); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.SetServiceStatus(ctx, id, statusHealthy); err != nil {
		e.t.Fatal(err)
	}
}

var (
	statusTaskNone = status.TaskNone
	statusHealthy  = status.Healthy
)

type taskCreateArgs = taskapi.CreateInstanceArgs

func (e *env) doContentType(token, method, path, contentType, body string) response {
	e.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Auth-Token", token)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	out := response{Code: rec.Code, Header: rec.Header(), Raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &out.Body)
	return out
}

type resizeArgs = taskapi.ResizeVolumeArgs
