package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/testenv"
)

// keystoneToken gets a project-scoped token for a test user with the password method.
func keystoneToken(t testing.TB, user, project, password string) (token, projectID string) {
	t.Helper()
	body := fmt.Sprintf(`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": %q, "domain": {"name": "Default"}, "password": %q}}},
		"scope": {"project": {"name": %q, "domain": {"name": "Default"}}}}}`, user, password, project)
	resp, err := http.Post(testenv.KeystoneURL(t)+"/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token struct {
			Project struct{ ID string } `json:"project"`
		} `json:"token"`
	}
	if resp.StatusCode != 201 {
		data, _ := io.ReadAll(resp.Body)
		t.Fatalf("keystone token for %s: %d %s", user, resp.StatusCode, data)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.Header.Get("X-Subject-Token"), out.Token.Project.ID
}

// addInstances inserts n active, healthy instances for a project in one transaction.
func addInstances(b *testing.B, db *catalog.DB, project string, n int) {
	b.Helper()
	ctx := context.Background()
	_, v, err := db.FindVersion(ctx, "mysql", "8.0")
	if err != nil {
		b.Fatal(err)
	}
	rows := make([]catalog.Instance, n)
	for i := range rows {
		rows[i] = catalog.Instance{Name: fmt.Sprintf("bench-%04d", i), FlavorID: "1", VolumeSize: 1, TenantID: project,
			DatastoreVersionID: v.ID, RegionID: "RegionOne", ComputeInstanceID: fmt.Sprintf("server-%d", i),
			TaskID: status.TaskNone.Code, TaskDescription: status.TaskNone.DBText}
	}
	unlimited := catalog.Defaults{Instances: -1, RAM: -1, Volumes: -1, Backups: -1}
	created, err := db.CreateInstance(ctx, catalog.CreateInstanceParams{Instances: rows, Deltas: map[string]int{catalog.ResourceInstances: n}, Defaults: unlimited})
	if err != nil {
		b.Fatal(err)
	}
	for _, in := range created {
		if err := db.SetServiceStatus(ctx, in.ID, status.Healthy); err != nil {
			b.Fatal(err)
		}
	}
}

// localServers writes a local compute driver state dir in which servers server-0 … server-<n-1> (the compute ids
// addInstances records) exist with an address, so the benchmarked lists render ip / addresses as in production.
func localServers(b *testing.B, n int) string {
	b.Helper()
	st := map[string]map[string]any{"addresses": {}, "servers": {}, "volumes": {}}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("server-%d", i)
		st["addresses"][id] = fmt.Sprintf("127.77.%d.%d", i/250, i%250+1)
		st["servers"][id] = map[string]string{"name": id}
	}
	data, err := json.Marshal(st)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "state.json"), data, 0o600); err != nil {
		b.Fatal(err)
	}
	return dir
}

// cpuTicks is a process's user+system CPU time in clock ticks (1/100 s), or -1.
func cpuTicks(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields after "pid (comm)"
	if len(f) < 13 {
		return -1
	}
	u, _ := strconv.Atoi(f[11])
	k, _ := strconv.Atoi(f[12])
	return u + k
}

// mariadbPID is the catalog server's pid (deploy/mariadb.sh), or 0.
func mariadbPID() int {
	data, _ := os.ReadFile("/run/mysqld/mysqld.pid")
	n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return n
}

func rssKB(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return -1
}

// BenchmarkAPI measures the hot read paths of the real binary with a cached Keystone token: instance lists of
// a project with 100 and with 1,000 instances (one default page of 20, detail off), and the datastore list, each
// at concurrency 1 and 32. Reported: req/s, p50/p99 latency and the server's RSS after the run.
//
//	go test ./services/api/cmd/trove-api -run '^$' -bench BenchmarkAPI -benchtime 5000x
//
// TROVE_BENCH_DSN_PARAMS is appended to the catalog DSN (e.g. "&interpolateParams=true" to compare driver
// settings); TROVE_BENCH_PPROF_BIND (e.g. 127.0.0.1:6060) sets the server's debug_pprof_bind so a CPU profile
// can be taken during the run (go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=10);
// TROVE_BENCH_LIST_CACHE_TTL (e.g. 1) turns on the instance-list micro-cache. Every scenario also runs against
// this build with metrics on (impl=head-metrics: metrics_bind set, /metrics scraped every second) beside
// impl=head (metrics off): the cost of metrics on the hot path (TROVE_BENCH_NO_SCRAPE=1: no scrapes, the
// per-request cost alone); instances-100/metrics-pair interleaves the two. TROVE_BENCH_BASELINE_BIN names a
// second trove-api binary (make bench builds one from BENCH_BASELINE): each scenario then runs against the
// baseline and this build in turn, in the same run, as impl=baseline and impl=head. api-cpu-µs/req and db-cpu-µs/req are the CPU time of trove-api and of the shared MariaDB per
// request (MariaDB also serves other clients, so its share is an upper bound).
func BenchmarkAPI(b *testing.B) {
	dsn, db := seedCatalog(b)
	pw := testenv.Get(b, testenv.DemoPassword)
	tok100, proj100 := keystoneToken(b, "demo", "demo", pw)
	tok1000, proj1000 := keystoneToken(b, "demo2", "demo2", pw)
	addInstances(b, db, proj100, 100)
	addInstances(b, db, proj1000, 1000)
	type server struct {
		impl, base string
		cmd        *exec.Cmd
	}
	state := localServers(b, 1000)
	var servers []server
	if bin := os.Getenv("TROVE_BENCH_BASELINE_BIN"); bin != "" {
		base, cmd := startAPIBinary(b, bin, dsn+os.Getenv("TROVE_BENCH_DSN_PARAMS"), state)
		servers = append(servers, server{"baseline", base, cmd})
	}
	base, cmd := startAPI(b, dsn+os.Getenv("TROVE_BENCH_DSN_PARAMS"), state)
	servers = append(servers, server{"head", base, cmd})
	// The cost of metrics on the hot path: the same build with [DEFAULT] metrics_bind set (impl=head-metrics)
	// beside impl=head (no metrics), scraped once a second during its runs as Prometheus would.
	metricsPort := freePort(b)
	base, cmd = startAPIBinary(b, binary, dsn+os.Getenv("TROVE_BENCH_DSN_PARAMS"), state, fmt.Sprintf("metrics_bind = %d", metricsPort))
	servers = append(servers, server{"head-metrics", base, cmd})
	stopScrape := make(chan struct{})
	defer close(stopScrape)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopScrape:
				return
			case <-t.C:
				if os.Getenv("TROVE_BENCH_NO_SCRAPE") != "" {
					continue
				}
				if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}
	}()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 128}, Timeout: 30 * time.Second}

	// The metrics pair interleaved: each worker alternates between the server without and with metrics, so both
	// see the same load from whatever else runs on the machine; the reported loss compares their CPU per request
	// and median latency (metrics-cpu-loss-% ≤ 3 is the target).
	b.Run("instances-100/metrics-pair/c=32", func(b *testing.B) {
		off, on := servers[len(servers)-2], servers[len(servers)-1]
		path := "/v1.0/" + proj100 + "/instances"
		get(b, client, off.base+path, tok100)
		get(b, client, on.base+path, tok100)
		lat := [2][]time.Duration{make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)}
		var next int
		var mu sync.Mutex
		var wg sync.WaitGroup
		cpu0 := [2]int{cpuTicks(off.cmd.Process.Pid), cpuTicks(on.cmd.Process.Pid)}
		b.ResetTimer()
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					mu.Lock()
					i := next
					next++
					mu.Unlock()
					if i >= b.N {
						return
					}
					base := [2]string{off.base, on.base}[i%2]
					t0 := time.Now()
					get(b, client, base+path, tok100)
					d := time.Since(t0)
					mu.Lock()
					lat[i%2] = append(lat[i%2], d)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		if len(lat[0]) == 0 || len(lat[1]) == 0 {
			return // b.N = 1: the probe run before the measured one
		}
		cpu := [2]float64{}
		for k, srv := range []server{off, on} {
			cpu[k] = float64(cpuTicks(srv.cmd.Process.Pid)-cpu0[k]) * 10000 / float64(len(lat[k]))
			sort.Slice(lat[k], func(i, j int) bool { return lat[k][i] < lat[k][j] })
		}
		p50 := func(k int) float64 { return float64(lat[k][len(lat[k])/2].Microseconds()) / 1000 }
		b.ReportMetric(cpu[0], "off-api-cpu-µs/req")
		b.ReportMetric(cpu[1], "on-api-cpu-µs/req")
		b.ReportMetric((cpu[1]-cpu[0])*100/cpu[0], "metrics-cpu-loss-%")
		b.ReportMetric(p50(0), "off-p50-ms")
		b.ReportMetric(p50(1), "on-p50-ms")
	})

	scenarios := []struct {
		name, token, path string
	}{
		{"instances-100", tok100, "/v1.0/" + proj100 + "/instances"},
		{"instances-1000", tok1000, "/v1.0/" + proj1000 + "/instances"},
		{"datastores", tok100, "/v1.0/" + proj100 + "/datastores"},
	}
	for _, sc := range scenarios {
		for _, srv := range servers {
			// Warm up: the first request validates the token with Keystone; later ones hit the cache.
			get(b, client, srv.base+sc.path, sc.token)
			if strings.HasPrefix(sc.name, "instances") {
				requireAddresses(b, client, srv.base+sc.path, sc.token)
			}
		}
		for _, conc := range []int{1, 32} {
			for _, srv := range servers {
				name := fmt.Sprintf("%s/c=%d", sc.name, conc)
				if len(servers) > 1 {
					name = fmt.Sprintf("%s/impl=%s/c=%d", sc.name, srv.impl, conc)
				}
				base, cmd := srv.base, srv.cmd
				b.Run(name, func(b *testing.B) {
					lat := make([]time.Duration, b.N)
					var next int
					var mu sync.Mutex
					var wg sync.WaitGroup
					apiCPU, dbCPU := cpuTicks(cmd.Process.Pid), cpuTicks(mariadbPID())
					b.ResetTimer()
					start := time.Now()
					for w := 0; w < conc; w++ {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for {
								mu.Lock()
								i := next
								next++
								mu.Unlock()
								if i >= b.N {
									return
								}
								t0 := time.Now()
								get(b, client, base+sc.path, sc.token)
								lat[i] = time.Since(t0)
							}
						}()
					}
					wg.Wait()
					elapsed := time.Since(start)
					b.StopTimer()
					sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
					b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
					b.ReportMetric(float64(lat[b.N/2].Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(lat[min(b.N-1, b.N*99/100)].Microseconds())/1000, "p99-ms")
					b.ReportMetric(float64(rssKB(cmd.Process.Pid))/1024, "rss-MB")
					// CPU per request of the server and of MariaDB (10 ms ticks; the client's share is the rest).
					b.ReportMetric(float64(cpuTicks(cmd.Process.Pid)-apiCPU)*10000/float64(b.N), "api-cpu-µs/req")
					if pid := mariadbPID(); pid > 0 && dbCPU >= 0 {
						b.ReportMetric(float64(cpuTicks(pid)-dbCPU)*10000/float64(b.N), "db-cpu-µs/req")
					}
				})
			}
		}
	}
}

// requireAddresses fails the benchmark unless the list renders the local servers' addresses.
func requireAddresses(b *testing.B, client *http.Client, url, token string) {
	resp, err := client.Do(newGet(url, token))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(data), `"ip":["127.77.`) || !strings.Contains(string(data), `"addresses":[{"address":"127.77.`) {
		b.Fatalf("GET %s renders no addresses: %d %.300s", url, resp.StatusCode, data)
	}
}

func newGet(url, token string) *http.Request {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("Accept", "application/json")
	return req
}

func get(b *testing.B, client *http.Client, url, token string) {
	resp, err := client.Do(newGet(url, token))
	if err != nil {
		b.Error(err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		data, _ := io.ReadAll(resp.Body)
		b.Errorf("GET %s: %d %s", url, resp.StatusCode, data)
		return
	}
	// The load generator shares the 2 cores with the server: read the whole body without keeping it.
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		b.Error(err)
	}
}
