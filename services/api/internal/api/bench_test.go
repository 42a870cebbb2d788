package api

import (
	"context"
	"fmt"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/status"
)

// BenchmarkListInstances measures the in-process cost of GET /instances (middleware, handler, SQL, JSON) for a
// project with 100 instances, without HTTP, with this process's CPU time per request; run it with -cpuprofile to see where the time goes. End-to-end
// numbers (real binary, HTTP, concurrency) are in cmd/trove-api's BenchmarkAPI.
func BenchmarkListInstances(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.DatastoreCacheTTL = time.Minute })
	rows := make([]catalog.Instance, 100)
	for i := range rows {
		rows[i] = catalog.Instance{Name: fmt.Sprintf("bench-%04d", i), FlavorID: "1", VolumeSize: 1, TenantID: projDemo,
			DatastoreVersionID: e.mysql.ID, ComputeInstanceID: "s", TaskID: status.TaskNone.Code, TaskDescription: status.TaskNone.DBText}
	}
	if _, err := e.db.CreateInstance(context.Background(), catalog.CreateInstanceParams{Instances: rows,
		Deltas: map[string]int{"instances": 100}, Defaults: catalog.Defaults{Instances: -1, RAM: -1, Volumes: -1, Backups: -1}}); err != nil {
		b.Fatal(err)
	}
	path := "/v1.0/" + projDemo + "/instances"
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("X-Auth-Token", "demo")
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	b.StopTimer()
	// CPU time of this process per request: less sensitive to a loaded machine than ns/op, which also
	// counts waiting for MariaDB.
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU is this process's user+system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
