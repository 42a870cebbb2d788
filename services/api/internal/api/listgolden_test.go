package api

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/pkg/status"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden/*.json from the current output")

// goldenServers is a compute double answering both show (GetServer) and lists (ServerAddresses).
type goldenServers map[string][]compute.Address

func (g goldenServers) GetServer(_ context.Context, id string) (compute.Server, error) {
	a, ok := g[id]
	if !ok {
		return compute.Server{}, compute.ErrNotFound
	}
	return compute.Server{ID: id, Status: compute.ServerActive, Addresses: a}, nil
}

func (g goldenServers) ServerAddresses(_ context.Context, ids []string) (map[string][]compute.Address, error) {
	out := map[string][]compute.Address{}
	for _, id := range ids {
		if a, ok := g[id]; ok {
			out[id] = a
		}
	}
	return out, nil
}

// The instance list bodies are byte for byte what they were when captured (testdata/golden, written by the
// hand-encoded list before it became encoding/json): same rows → same bytes, key order and escaping included.
// Run with -update-golden only for a deliberate change of the API's output.
func TestListBodiesGolden(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := t0
	e.db.Now = func() time.Time { return clock }
	e.api.now = func() time.Time { return t0.Add(time.Hour) }
	id := func(n int) string { return "00000000-0000-4000-8000-00000000000" + string(rune('0'+n)) }
	mk := func(n int, tenant string, in catalog.Instance) {
		t.Helper()
		clock = t0.Add(time.Duration(n) * time.Minute)
		in.ID, in.TenantID, in.FlavorID, in.DatastoreVersionID = id(n), tenant, "1", e.mysql.ID
		if in.VolumeSize == 0 {
			in.VolumeSize = 1
		}
		if _, err := e.db.CreateInstance(ctx, catalog.CreateInstanceParams{Instances: []catalog.Instance{in},
			Deltas: map[string]int{"instances": 1}, Defaults: catalog.Defaults{Instances: -1, RAM: -1, Volumes: -1, Backups: -1}}); err != nil {
			t.Fatal(err)
		}
	}
	active := func(n int, server string) {
		t.Helper()
		if err := e.db.SetServer(ctx, id(n), server, "vol-"+server); err != nil {
			t.Fatal(err)
		}
		if err := e.db.SetTask(ctx, id(n), status.TaskNone); err != nil {
			t.Fatal(err)
		}
		clock = t0.Add(time.Hour - 10*time.Second)
		if err := e.db.SetServiceStatus(ctx, id(n), status.Healthy); err != nil {
			t.Fatal(err)
		}
	}
	mk(1, projDemo, catalog.Instance{Name: "alpha"})
	active(1, "srv-alpha")
	mk(2, projDemo, catalog.Instance{Name: "beta <&> \"naïve\" \\ \u2028 \x01", Hostname: "beta.example", RegionID: "RegionOne",
		Access: `{"is_public": true, "allowed_cidrs": ["10.0.0.0/8"]}`, VolumeSize: 3})
	active(2, "srv-beta")
	mk(3, projDemo, catalog.Instance{Name: "gamma"}) // building: no server yet
	mk(4, projDemo, catalog.Instance{Name: "delta", SlaveOfID: id(1), EncryptedKey: "wrapped"})
	active(4, "srv-delta") // the driver has no address for it
	mk(5, projDemo, catalog.Instance{Name: "epsilon"})
	active(5, "srv-eps")
	clock = t0 // stale heartbeat: ACTIVE server shows SHUTDOWN
	if err := e.db.SetServiceStatus(ctx, id(5), status.Healthy); err != nil {
		t.Fatal(err)
	}
	mk(6, projAdmin, catalog.Instance{Name: "admin-own"})
	active(6, "srv-admin")
	e.api.servers = goldenServers{
		"srv-alpha": {{Network: "local", Addr: "127.77.0.5", Version: 4}, {Network: "local", Addr: "::1", Version: 6}},
		"srv-beta":  {{Network: "local", Addr: "127.77.0.6", Version: 4}},
		"srv-eps":   {{Addr: "127.77.0.7", Version: 4}, {Network: "other", Addr: "10.1.2.3", Version: 4}},
		"srv-admin": {{Network: "local", Addr: "127.77.0.8", Version: 4}},
	}
	pd, pa := "/v1.0/"+projDemo, "/v1.0/"+projAdmin
	cases := []struct{ file, token, path string }{
		{"list", "demo", pd + "/instances"},
		{"detail", "demo", pd + "/instances/detail"},
		{"list-page1", "demo", pd + "/instances?limit=2"},
		{"list-page2", "demo", pd + "/instances?limit=2&marker=" + id(2)},
		{"detail-admin", "admin", pa + "/instances/detail"},
		{"list-admin", "admin", pa + "/instances"},
		{"mgmt-list", "admin", pa + "/mgmt/instances?project_id=" + projDemo},
		{"empty", "demo2", "/v1.0/" + projDemo2 + "/instances"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			r := e.do(tc.token, "GET", tc.path, nil)
			if r.Code != 200 {
				t.Fatalf("%d %s", r.Code, r.Raw)
			}
			path := filepath.Join("testdata", "golden", tc.file+".json")
			if *updateGolden {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(r.Raw), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if r.Raw != string(want) {
				t.Fatalf("body differs from %s:\n got %s\nwant %s", path, r.Raw, want)
			}
		})
	}
}
