package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/testenv"
)

// heartbeatAge scrapes /metrics and returns trove_instance_heartbeat_age_seconds of the instance (-1: absent).
func heartbeatAge(t *testing.T, url, id string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	var f *dto.MetricFamily = fams["trove_instance_heartbeat_age_seconds"]
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "instance_id" && l.GetValue() == id {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

// The conductor with metrics_bind serves each instance's heartbeat age, read from the catalog at scrape time:
// it grows while the guest is silent and drops back when a heartbeat arrives.
func TestHeartbeatAgeMetric(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "trove-conductor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx := context.Background()
	dsn := testenv.NewDatabase(t)
	db, err := catalog.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := db.CreateInstance(ctx, catalog.CreateInstanceParams{Instances: []catalog.Instance{{Name: "db", TenantID: "p1", FlavorID: "1", VolumeSize: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	id := rows[0].ID
	if _, err := db.Heartbeat(ctx, id, "healthy", nil); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(dir, "trove.conf")
	text := fmt.Sprintf("[DEFAULT]\ntransport_url = %s\ncontrol_exchange = %s\nconductor_queue = %s\ninst_rpc_key_encr_key = fresh-wrap-key-0123456789abcdef\nmetrics_bind = %d\n[database]\nconnection = %s\n",
		testenv.TransportURL(t), testenv.UniqueName(t, "trove-test"), testenv.UniqueName(t, "cond"), port, dsn)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var out testenv.Buffer
	cmd := exec.Command(bin, "--config-file", conf)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	for i := 0; ; i++ {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			break
		}
		if i > 200 {
			t.Fatalf("no /metrics on 127.0.0.1:%d:\n%s", port, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	first := heartbeatAge(t, url, id)
	if first < 0 || first > 30 {
		t.Fatalf("heartbeat age %v after a fresh heartbeat", first)
	}
	time.Sleep(1500 * time.Millisecond)
	later := heartbeatAge(t, url, id)
	if later < first+1 {
		t.Fatalf("heartbeat age %v then %v: not growing while silent", first, later)
	}
	if _, err := db.Heartbeat(ctx, id, "healthy", nil); err != nil {
		t.Fatal(err)
	}
	if again := heartbeatAge(t, url, id); again >= later {
		t.Fatalf("heartbeat age %v after a heartbeat, was %v", again, later)
	}
}
