package main

import (
	"fmt"
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/trove-go/trove/pkg/testenv"
)

// scrape reads /metrics at base and parses it with the Prometheus text parser.
func scrape(t testing.TB, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// sample is the value of the family's series with exactly these labels (counter, gauge or histogram count), or 0.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if fmt.Sprint(got) != fmt.Sprint(labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return 0
}

// The real binary with metrics_bind serves /metrics on its own loopback port; request counts and latency
// histograms per route template and status move with the requests made, and nothing else answers there.
func TestMetricsCountRequests(t *testing.T) {
	dsn, _ := seedCatalog(t)
	port := freePort(t)
	base, _ := startAPIBinary(t, binary, dsn, t.TempDir(), fmt.Sprintf("metrics_bind = %d", port))
	metricsBase := fmt.Sprintf("http://127.0.0.1:%d", port)
	tok, proj := keystoneToken(t, "demo", "demo", testenv.Get(t, testenv.DemoPassword))

	list := map[string]string{"route": "/v1.0/{tenant}/instances", "method": "GET", "status": "200"}
	missing := map[string]string{"route": "/v1.0/{tenant}/instances/{id}", "method": "GET", "status": "404"}
	before := scrape(t, metricsBase)
	do := func(path string, want int) {
		resp, err := http.DefaultClient.Do(newGetT(base+path, tok))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	for i := 0; i < 3; i++ {
		do("/v1.0/"+proj+"/instances", 200)
	}
	do("/v1.0/"+proj+"/instances/00000000-0000-4000-8000-000000000000", 404)
	after := scrape(t, metricsBase)
	if d := sample(after, "trove_api_requests_total", list) - sample(before, "trove_api_requests_total", list); d != 3 {
		t.Errorf("instance list requests counted %v, want 3", d)
	}
	if d := sample(after, "trove_api_request_duration_seconds", list) - sample(before, "trove_api_request_duration_seconds", list); d != 3 {
		t.Errorf("instance list latencies observed %v, want 3", d)
	}
	if d := sample(after, "trove_api_requests_total", missing) - sample(before, "trove_api_requests_total", missing); d != 1 {
		t.Errorf("404s counted %v, want 1", d)
	}
	if after["go_goroutines"] == nil || after["process_resident_memory_bytes"] == nil {
		t.Error("no Go runtime or process metrics")
	}
	// The API's own port does not serve /metrics.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Error("/metrics is served on the API port")
	}
}

func newGetT(url, token string) *http.Request {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("Accept", "application/json")
	return req
}
