// Package metrics is the control plane's Prometheus instrumentation (github.com/prometheus/client_golang): the
// /metrics listener ([DEFAULT] metrics_bind, off unless set, loopback unless a host is named), API requests per
// route template and status, RPC calls and casts per method and outcome (an rpc.Observer), flows in progress and
// failed per kind (taskmanager), and instance counts per status and datastore with each instance's heartbeat age
// (read from the catalog at scrape time). Each service registers what it has on a registry of its own.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/config"
)

// BindFrom reads [DEFAULT] metrics_bind: "" (the default) serves no metrics; "host:port" serves /metrics there;
// ":port" or "port" means 127.0.0.1:port (loopback unless the operator names another address).
func BindFrom(f *config.File) (string, error) {
	v := f.String("DEFAULT", "metrics_bind", "")
	if v == "" {
		return "", nil
	}
	if _, err := strconv.Atoi(v); err == nil {
		v = ":" + v
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", fmt.Errorf("[DEFAULT] metrics_bind = %q: want host:port, :port or port", v)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", fmt.Errorf("[DEFAULT] metrics_bind = %q: bad port", v)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// NewRegistry returns a registry with the process collector (CPU, memory, open files) and go_goroutines /
// go_threads. client_golang's Go runtime collector is left out on purpose: merely registered (never scraped) it
// cost trove-api 4-8 % more CPU per instance list in BenchmarkAPI's interleaved metrics pair (its sample buffers
// enlarge a live heap of a few MB that every GC cycle marks), against ≤ 1 % without it.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "go_goroutines", Help: "Number of goroutines that currently exist."},
			func() float64 { return float64(runtime.NumGoroutine()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "go_threads", Help: "Number of OS threads created."},
			func() float64 { n, _ := runtime.ThreadCreateProfile(nil); return float64(n) }))
	return reg
}

// Serve answers GET /metrics on addr until ctx ends; it returns once listening, with the bound address.
func Serve(ctx context.Context, addr string, reg *prometheus.Registry, log logrus.FieldLogger) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	// Uncompressed: gzip's per-scrape buffers cost more than the bytes saved on a loopback or LAN scrape.
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: errorLog{log}, DisableCompression: true}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Error("metrics listener stopped")
		}
	}()
	log.WithField("address", ln.Addr().String()).Info("serving /metrics")
	return ln.Addr(), nil
}

type errorLog struct{ log logrus.FieldLogger }

func (e errorLog) Println(v ...any) { e.log.Warn(fmt.Sprint(v...)) }

// HTTP counts API requests per route template (e.g. GET /v1.0/{tenant}/instances), method and status, with
// their latency.
type HTTP struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	mu       sync.RWMutex
	series   map[httpKey]httpSeries // resolved children: the hot path does no label hashing
}

type httpKey struct {
	method, route string
	status        int
}

type httpSeries struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

// NewHTTP registers trove_api_requests_total and trove_api_request_duration_seconds.
func NewHTTP(reg prometheus.Registerer) *HTTP {
	h := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trove_api_requests_total",
			Help: "API requests answered, per route template, method and status."}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "trove_api_request_duration_seconds",
			Help: "API request latency, per route template, method and status.", Buckets: prometheus.DefBuckets},
			[]string{"route", "method", "status"}),
		series: map[httpKey]httpSeries{},
	}
	reg.MustRegister(h.requests, h.latency)
	return h
}

// Observe records one answered request. route is the matched route template ("" for none: "unmatched").
func (h *HTTP) Observe(method, route string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	k := httpKey{method, route, status}
	h.mu.RLock()
	s, ok := h.series[k]
	h.mu.RUnlock()
	if !ok {
		st := strconv.Itoa(status)
		s = httpSeries{h.requests.WithLabelValues(route, method, st), h.latency.WithLabelValues(route, method, st)}
		h.mu.Lock()
		h.series[k] = s
		h.mu.Unlock()
	}
	s.count.Inc()
	s.latency.Observe(d.Seconds())
}

// RPC counts calls and casts per method and outcome with their latency (install with Transport.SetObserver).
type RPC struct {
	sent    *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// NewRPC registers trove_rpc_messages_total and trove_rpc_duration_seconds.
func NewRPC(reg prometheus.Registerer) *RPC {
	r := &RPC{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trove_rpc_messages_total",
			Help: "RPC calls and casts sent, per kind, method and outcome (ok, timeout, remote_error, error)."},
			[]string{"kind", "method", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "trove_rpc_duration_seconds",
			Help:    "RPC latency (a cast until the broker confirms it, a call until its reply), per kind and method.",
			Buckets: prometheus.DefBuckets}, []string{"kind", "method"}),
	}
	reg.MustRegister(r.sent, r.latency)
	return r
}

// ObserveRPC implements rpc.Observer.
func (r *RPC) ObserveRPC(kind, method, outcome string, d time.Duration) {
	r.sent.WithLabelValues(kind, method, outcome).Inc()
	r.latency.WithLabelValues(kind, method).Observe(d.Seconds())
}

// Flows counts the taskmanager's flows per kind (create, delete, resize_volume, …).
type Flows struct {
	running *prometheus.GaugeVec
	ended   *prometheus.CounterVec
}

// NewFlows registers trove_taskmanager_flows_in_progress and trove_taskmanager_flows_total.
func NewFlows(reg prometheus.Registerer) *Flows {
	f := &Flows{
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "trove_taskmanager_flows_in_progress",
			Help: "Flows running now, per kind."}, []string{"kind"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trove_taskmanager_flows_total",
			Help: "Flows ended, per kind and result (succeeded, failed)."}, []string{"kind", "result"}),
	}
	reg.MustRegister(f.running, f.ended)
	return f
}

// FlowStarted implements flows.FlowMetrics.
func (f *Flows) FlowStarted(kind string) { f.running.WithLabelValues(kind).Inc() }

// FlowEnded implements flows.FlowMetrics.
func (f *Flows) FlowEnded(kind string, err error) {
	f.running.WithLabelValues(kind).Dec()
	result := "succeeded"
	if err != nil {
		result = "failed"
	}
	f.ended.WithLabelValues(kind, result).Inc()
}

// Instances is a collector reading the catalog at scrape time: trove_instances per API status and datastore
// (Counts) and trove_instance_heartbeat_age_seconds per instance (Heartbeats).
type Instances struct {
	List       func(ctx context.Context) ([]catalog.LiveInstance, error)
	Expiry     time.Duration // agent_heartbeat_expiry: the status shown for a silent guest
	Counts     bool          // trove_instances (the taskmanager's)
	Heartbeats bool          // trove_instance_heartbeat_age_seconds (the conductor's)
	Now        func() time.Time
	Log        logrus.FieldLogger
}

var (
	instancesDesc = prometheus.NewDesc("trove_instances", "Live instances per API status and datastore.",
		[]string{"status", "datastore", "datastore_version"}, nil)
	heartbeatDesc = prometheus.NewDesc("trove_instance_heartbeat_age_seconds",
		"Seconds since the instance's guest last reported (service_statuses.updated_at); absent before the first report.",
		[]string{"instance_id", "tenant_id"}, nil)
	dbUpDesc = prometheus.NewDesc("trove_instance_database_up",
		"1 when the instance's database answered its guest at the last heartbeat, 0 when not; absent for guests that report no health (Trove's).",
		[]string{"instance_id", "tenant_id"}, nil)
	dbConnsDesc = prometheus.NewDesc("trove_instance_database_connections",
		"Client connections to the instance's database at the last heartbeat.", []string{"instance_id", "tenant_id"}, nil)
	replLagDesc = prometheus.NewDesc("trove_instance_replication_lag_seconds",
		"Seconds a replica is behind its source at the last heartbeat; absent on sources and standalone instances.",
		[]string{"instance_id", "tenant_id", "source_id"}, nil)
	scrapeErrDesc = prometheus.NewDesc("trove_catalog_scrape_errors", "1 when the catalog could not be read for this scrape.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *Instances) Describe(ch chan<- *prometheus.Desc) {
	ch <- scrapeErrDesc
	if c.Counts {
		ch <- instancesDesc
	}
	if c.Heartbeats {
		ch <- heartbeatDesc
		ch <- dbUpDesc
		ch <- dbConnsDesc
		ch <- replLagDesc
	}
}

// Collect implements prometheus.Collector.
func (c *Instances) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := c.List(ctx)
	failed := 0.0
	if err != nil {
		failed = 1
		c.Log.WithError(err).Warn("metrics: reading instances from the catalog")
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrDesc, prometheus.GaugeValue, failed)
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	t := now()
	type key struct{ status, ds, ver string }
	counts := map[key]int{}
	for _, r := range rows {
		counts[key{r.Status(t, c.Expiry), r.Datastore, r.DatastoreVer}]++
		if c.Heartbeats && r.HeartbeatAt != nil {
			ch <- prometheus.MustNewConstMetric(heartbeatDesc, prometheus.GaugeValue, t.Sub(*r.HeartbeatAt).Seconds(), r.ID, r.TenantID)
		}
		if c.Heartbeats && r.HealthUp != nil {
			up := 0.0
			if *r.HealthUp {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(dbUpDesc, prometheus.GaugeValue, up, r.ID, r.TenantID)
			if r.HealthConnections != nil {
				ch <- prometheus.MustNewConstMetric(dbConnsDesc, prometheus.GaugeValue, float64(*r.HealthConnections), r.ID, r.TenantID)
			}
			if r.ReplicationLag != nil && r.SlaveOfID != "" {
				ch <- prometheus.MustNewConstMetric(replLagDesc, prometheus.GaugeValue, *r.ReplicationLag, r.ID, r.TenantID, r.SlaveOfID)
			}
		}
	}
	if !c.Counts {
		return
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(instancesDesc, prometheus.GaugeValue, float64(n), k.status, k.ds, k.ver)
	}
}
