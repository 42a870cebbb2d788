package api

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/status"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestInstanceListCache: rows written by other processes show up after one TTL, writes through the API at once;
// projects never share entries; the status is derived with the current time on every request (a heartbeat
// expiring while the page is cached shows at once).
func TestInstanceListCache(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.InstanceListCacheTTL = time.Second
		c.HeartbeatExpiry = 90*time.Second + 500*time.Millisecond
	})
	clk := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	e.api.now, e.api.listCache.now = clk.now, clk.now
	ctx := context.Background()
	n := 0
	insert := func(project string) string { // what the taskmanager or another trove-api would write
		t.Helper()
		n++
		rows, err := e.db.CreateInstance(ctx, catalog.CreateInstanceParams{Instances: []catalog.Instance{{Name: fmt.Sprintf("c%d", n),
			FlavorID: "1", VolumeSize: 1, TenantID: project, DatastoreVersionID: e.mysql.ID, ComputeInstanceID: "s",
			TaskID: status.TaskNone.Code, TaskDescription: status.TaskNone.DBText}},
			Deltas: map[string]int{"instances": 1}, Defaults: catalog.Defaults{Instances: -1, RAM: -1, Volumes: -1, Backups: -1}})
		if err != nil {
			t.Fatal(err)
		}
		// Healthy, last heartbeat 90 s ago (expiry 90.5 s; the column has whole seconds).
		if _, err := e.sql.Exec("UPDATE service_statuses SET status_id = ?, updated_at = ? WHERE instance_id = ?",
			status.Healthy.Code, clk.now().Add(-90*time.Second), rows[0].ID); err != nil {
			t.Fatal(err)
		}
		return rows[0].ID
	}
	list := func(token string) []string { // statuses, sorted (rows created within one second have no set order)
		t.Helper()
		r := e.do(token, "GET", "/v1.0/"+testTokens[token].ProjectID+"/instances", nil)
		if r.Code != http.StatusOK {
			t.Fatalf("list: %d %s", r.Code, r.Raw)
		}
		var out []string
		for _, v := range r.Body["instances"].([]any) {
			out = append(out, v.(map[string]any)["status"].(string))
		}
		sort.Strings(out)
		return out
	}
	first := insert(projDemo)
	steps := []struct {
		name  string
		act   func()
		token string
		want  []string
	}{
		{"first read", func() {}, "demo", []string{"ACTIVE"}},
		{"another process's insert is not seen within the TTL", func() { insert(projDemo) }, "demo", []string{"ACTIVE"}},
		{"other project: its own rows", func() { insert(projDemo2) }, "demo2", []string{"ACTIVE"}},
		{"heartbeat expiry is derived now, cached or not", func() { clk.add(600 * time.Millisecond) }, "demo", []string{"SHUTDOWN"}},
		{"after the TTL the insert shows", func() { clk.add(500 * time.Millisecond) }, "demo", []string{"SHUTDOWN", "SHUTDOWN"}},
		{"another insert, cached again", func() { insert(projDemo) }, "demo", []string{"SHUTDOWN", "SHUTDOWN"}},
		{"a write through the API empties the cache", func() {
			if r := e.do("demo", "PUT", "/v1.0/"+projDemo+"/instances/"+first, map[string]any{"instance": map[string]any{"name": "renamed"}}); r.Code >= 500 {
				t.Fatalf("PUT: %d %s", r.Code, r.Raw)
			}
		}, "demo", []string{"ACTIVE", "SHUTDOWN", "SHUTDOWN"}}, // the new one is fresh,
	}
	for _, s := range steps {
		s.act()
		if got := list(s.token); fmt.Sprint(got) != fmt.Sprint(s.want) {
			t.Fatalf("%s: statuses %v, want %v", s.name, got, s.want)
		}
	}
}

func TestListCacheTTLBounds(t *testing.T) {
	tests := []struct {
		ttl  time.Duration
		want time.Duration // 0 = off
	}{{0, 0}, {-time.Second, 0}, {500 * time.Millisecond, 500 * time.Millisecond}, {time.Minute, time.Second}}
	for _, tc := range tests {
		c := newListCache(tc.ttl, time.Now)
		if got := time.Duration(0); c != nil {
			got = c.ttl
			if got != tc.want {
				t.Errorf("ttl %s: cache ttl %s, want %s", tc.ttl, got, tc.want)
			}
		} else if tc.want != 0 {
			t.Errorf("ttl %s: cache off, want %s", tc.ttl, tc.want)
		}
	}
}

// A read that overlapped a write must not store what it read.
func TestListCachePutAfterWrite(t *testing.T) {
	c := newListCache(time.Second, time.Now)
	k := listKey{project: "p", limit: 20}
	_, ok, gen := c.get(k)
	if ok {
		t.Fatal("hit on an empty cache")
	}
	c.invalidate()
	c.put(k, gen, listEntry{next: "x"})
	if _, ok, _ := c.get(k); ok {
		t.Fatal("a read that overlapped a write was stored")
	}
	_, _, gen = c.get(k)
	c.put(k, gen, listEntry{next: "x"})
	if e, ok, _ := c.get(k); !ok || e.next != "x" {
		t.Fatalf("stored entry not returned: %v %+v", ok, e)
	}
}
