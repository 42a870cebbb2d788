package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/rpc"
)

func TestBindFrom(t *testing.T) {
	for in, want := range map[string]string{"": "", "9180": "127.0.0.1:9180", ":9180": "127.0.0.1:9180",
		"0.0.0.0:9180": "0.0.0.0:9180", "[::1]:9": "[::1]:9"} {
		f, _ := config.Parse("[DEFAULT]\nmetrics_bind = " + in + "\n")
		if got, err := BindFrom(f); err != nil || got != want {
			t.Errorf("metrics_bind = %q → %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"host", "1.2.3.4:x", "99999"} {
		f, _ := config.Parse("[DEFAULT]\nmetrics_bind = " + bad + "\n")
		if _, err := BindFrom(f); err == nil {
			t.Errorf("metrics_bind = %q accepted", bad)
		}
	}
}

func TestCounters(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, r, f := NewHTTP(reg), NewRPC(reg), NewFlows(reg)
	h.Observe("GET", "/v1.0/{tenant}/instances", 200, time.Millisecond)
	h.Observe("GET", "/v1.0/{tenant}/instances", 200, time.Millisecond)
	h.Observe("GET", "", 404, time.Millisecond)
	if n := testutil.ToFloat64(h.requests.WithLabelValues("/v1.0/{tenant}/instances", "GET", "200")); n != 2 {
		t.Errorf("requests %v", n)
	}
	if n := testutil.ToFloat64(h.requests.WithLabelValues("unmatched", "GET", "404")); n != 1 {
		t.Errorf("unmatched %v", n)
	}
	var tr rpc.Observer = r
	tr.ObserveRPC("call", "list_databases", rpc.Outcome(nil), time.Millisecond)
	tr.ObserveRPC("call", "list_databases", rpc.Outcome(&rpc.RemoteError{Class: "MessagingTimeout", Module: rpc.ModuleMessaging}), time.Second)
	tr.ObserveRPC("cast", "create_instance", rpc.Outcome(errors.New("no broker")), time.Millisecond)
	for _, c := range []struct {
		kind, method, outcome string
	}{{"call", "list_databases", "ok"}, {"call", "list_databases", "timeout"}, {"cast", "create_instance", "error"}} {
		if n := testutil.ToFloat64(r.sent.WithLabelValues(c.kind, c.method, c.outcome)); n != 1 {
			t.Errorf("%v: %v", c, n)
		}
	}
	f.FlowStarted("create")
	f.FlowStarted("delete")
	f.FlowEnded("delete", errors.New("boom"))
	if testutil.ToFloat64(f.running.WithLabelValues("create")) != 1 || testutil.ToFloat64(f.running.WithLabelValues("delete")) != 0 ||
		testutil.ToFloat64(f.ended.WithLabelValues("delete", "failed")) != 1 {
		t.Error("flow gauges")
	}
}

func TestInstancesCollector(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	beat := now.Add(-30 * time.Second)
	running := 1 // service_statuses.status_id of "running"
	rows := []catalog.LiveInstance{
		{Instance: catalog.Instance{ID: "a", TenantID: "p"}, StatusID: &running, HeartbeatAt: &beat, Datastore: "mariadb", DatastoreVer: "10.11"},
		{Instance: catalog.Instance{ID: "b", TenantID: "p", TaskID: 5}, Datastore: "mariadb", DatastoreVer: "10.11"},
	}
	up, down, conns, lag := true, false, 7, 1.5
	rows[0].HealthUp, rows[0].HealthConnections = &up, &conns
	rows = append(rows, catalog.LiveInstance{Instance: catalog.Instance{ID: "r", TenantID: "p", SlaveOfID: "a"}, StatusID: &running,
		HeartbeatAt: &beat, Datastore: "mariadb", DatastoreVer: "10.11", HealthUp: &down, HealthConnections: &conns, ReplicationLag: &lag})
	c := &Instances{List: func(context.Context) ([]catalog.LiveInstance, error) { return rows, nil }, Expiry: 90 * time.Second,
		Counts: true, Heartbeats: true, Now: func() time.Time { return now }, Log: logrus.New()}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	want := `
# HELP trove_instance_heartbeat_age_seconds Seconds since the instance's guest last reported (service_statuses.updated_at); absent before the first report.
# TYPE trove_instance_heartbeat_age_seconds gauge
trove_instance_heartbeat_age_seconds{instance_id="a",tenant_id="p"} 30
trove_instance_heartbeat_age_seconds{instance_id="r",tenant_id="p"} 30
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "trove_instance_heartbeat_age_seconds"); err != nil {
		t.Error(err)
	}
	// The guests' health: up per instance, connections, and the lag of the replica only.
	want = `
# HELP trove_instance_database_connections Client connections to the instance's database at the last heartbeat.
# TYPE trove_instance_database_connections gauge
trove_instance_database_connections{instance_id="a",tenant_id="p"} 7
trove_instance_database_connections{instance_id="r",tenant_id="p"} 7
# HELP trove_instance_database_up 1 when the instance's database answered its guest at the last heartbeat, 0 when not; absent for guests that report no health (Trove's).
# TYPE trove_instance_database_up gauge
trove_instance_database_up{instance_id="a",tenant_id="p"} 1
trove_instance_database_up{instance_id="r",tenant_id="p"} 0
# HELP trove_instance_replication_lag_seconds Seconds a replica is behind its source at the last heartbeat; absent on sources and standalone instances.
# TYPE trove_instance_replication_lag_seconds gauge
trove_instance_replication_lag_seconds{instance_id="r",source_id="a",tenant_id="p"} 1.5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "trove_instance_database_up", "trove_instance_database_connections",
		"trove_instance_replication_lag_seconds"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "trove_instances"); n != 2 {
		t.Errorf("%d trove_instances series, want 2 (ACTIVE and BUILD)", n)
	}
}

// BenchmarkObserve is what one API request pays for metrics (the series already resolved).
func BenchmarkObserve(b *testing.B) {
	h := NewHTTP(prometheus.NewRegistry())
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Observe("GET", "/v1.0/{tenant}/instances", 200, 2*time.Millisecond)
		}
	})
}

// BenchmarkScrape is one /metrics answer of a service (runtime, process and API series): what each scrape costs
// the service, whatever the request rate.
func BenchmarkScrape(b *testing.B) {
	reg := NewRegistry()
	h, r := NewHTTP(reg), NewRPC(reg)
	for _, route := range []string{"/v1.0/{tenant}/instances", "/v1.0/{tenant}/instances/{id}", "/v1.0/{tenant}/datastores"} {
		h.Observe("GET", route, 200, time.Millisecond)
	}
	r.ObserveRPC("cast", "create_instance", "ok", time.Millisecond)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
