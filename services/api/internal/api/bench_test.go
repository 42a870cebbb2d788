package api

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/status"
)

// BenchmarkListInstances measures the in-process cost of GET /instances (middleware, handler, SQL, JSON) for a
// project with 100 instances, without HTTP; run it with -cpuprofile to see where the time goes. End-to-end
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
}
