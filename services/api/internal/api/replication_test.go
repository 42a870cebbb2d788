package api

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
)

// createReplicas asks for count replicas of source and returns the response.
func (e *env) createReplicas(token, name, source string, count int) response {
	e.t.Helper()
	inst := map[string]any{"name": name, "replica_of": source}
	if count > 0 {
		inst["replica_count"] = count
	}
	return e.do(token, "POST", "/v1.0/"+testTokens[token].ProjectID+"/instances", map[string]any{"instance": inst})
}

func (e *env) instanceRow(id string) catalog.Instance {
	e.t.Helper()
	row, err := e.db.GetInstance(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return row
}

func TestCreateReplicaRules(t *testing.T) {
	e := newEnv(t)
	p := "/v1.0/" + projDemo + "/instances"
	src := e.createInstance("demo", "src")
	before := e.count("SELECT COUNT(*) FROM instances")
	cases := []struct {
		name, body, fault string
		code              int
		msg               string
	}{
		{"flavor", `{"instance": {"name": "r", "replica_of": "` + src + `", "flavorRef": "1"}}`, "badRequest", 400, "Cannot specify flavor when creating replicas."},
		{"datastore", `{"instance": {"name": "r", "replica_of": "` + src + `", "datastore": {"type": "mysql"}}}`, "badRequest", 400, "Cannot specify datastore when creating replicas."},
		{"volume", `{"instance": {"name": "r", "replica_of": "` + src + `", "volume": {"size": 1}}}`, "badRequest", 400, "Cannot specify volume when creating replicas."},
		{"locality", `{"instance": {"name": "r", "replica_of": "` + src + `", "locality": "affinity"}}`, "badRequest", 400, "Cannot specify locality when creating replicas."},
		{"unknown source", `{"instance": {"name": "r", "replica_of": "00000000-0000-0000-0000-000000000000"}}`, "itemNotFound", 404, ""},
		{"databases", `{"instance": {"name": "r", "replica_of": "` + src + `", "databases": [{"name": "app"}]}}`, "badRequest", 400, "Cannot create a replica with users or databases."},
		{"users", `{"instance": {"name": "r", "replica_of": "` + src + `", "users": [{"name": "u", "password": "p"}]}}`, "badRequest", 400, "Cannot create a replica with users or databases."},
		{"ip address", `{"instance": {"name": "r", "replica_of": "` + src + `", "nics": [{"subnet_id": "6f1c9a7e-8f2b-4f7e-9c1d-2a3b4c5d6e7f", "ip_address": "10.0.0.9"}]}}`, "badRequest", 400, "Cannot specify IP address when creating replicas."},
		{"count too large", `{"instance": {"name": "r", "replica_of": "` + src + `", "replica_count": 4}}`, "badRequest", 400, "replica_count"},
		// The source is still building: Trove's validate_can_perform_action on it.
		{"source building", `{"instance": {"name": "r", "replica_of": "` + src + `"}}`, "unprocessableEntity", 422, "is not currently available for an action to be performed"},
	}
	for _, c := range cases {
		r := e.do("demo", "POST", p, c.body)
		if r.Code != c.code || r.faultName() != c.fault || !strings.Contains(r.faultMessage(), c.msg) {
			t.Errorf("%s: got %d %s\nwant %d %s %q", c.name, r.Code, r.Raw, c.code, c.fault, c.msg)
		}
	}
	// Another project's instance is not found (Trove would find it; we do not let a tenant replicate another's data).
	if r := e.createReplicas("demo2", "r", src, 0); r.Code != 404 {
		t.Errorf("another project's source: %d %s", r.Code, r.Raw)
	}
	if n := e.count("SELECT COUNT(*) FROM instances"); n != before {
		t.Fatalf("%d instance rows after refused creates, want %d", n, before)
	}
	if m := e.tm.methods(); len(m) != 1 {
		t.Fatalf("casts after refused creates: %v", m)
	}

	// A replica of a replica is Trove's Forbidden, which Trove answers with 401.
	e.markActive(src)
	r := e.createReplicas("demo", "r1", src, 0)
	if r.Code != 200 {
		t.Fatalf("create replica: %d %s", r.Code, r.Raw)
	}
	r1 := r.Body["instance"].(map[string]any)["id"].(string)
	e.markActive(r1)
	if r := e.createReplicas("demo", "rr", r1, 0); r.Code != 401 || !strings.Contains(r.faultMessage(), "Cannot create a replica of a replica "+r1) {
		t.Errorf("replica of a replica: %d %s", r.Code, r.Raw)
	}
}

func TestCreateReplicas(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Quotas.Instances = 3 })
	p := "/v1.0/" + projDemo + "/instances/"
	src := e.createInstance("demo", "src")
	e.markActive(src)

	// Three replicas would exceed the quota of 3 instances: nothing is created.
	if r := e.createReplicas("demo", "rep", src, 3); r.Code != 413 || !strings.Contains(r.faultMessage(), "instances") {
		t.Fatalf("over quota: %d %s", r.Code, r.Raw)
	}
	if n := e.count("SELECT COUNT(*) FROM instances WHERE slave_of_id IS NOT NULL"); n != 0 {
		t.Fatalf("%d replica rows after the refused create", n)
	}
	r := e.createReplicas("demo", "rep", src, 2)
	if r.Code != 200 {
		t.Fatalf("create 2 replicas: %d %s", r.Code, r.Raw)
	}
	view := r.Body["instance"].(map[string]any)
	if view["name"] != "rep-1" || view["replica_of"].(map[string]any)["id"] != src || view["status"] != "BUILD" {
		t.Errorf("create view %s", r.Raw)
	}
	// Flavor, datastore version and volume size are the source's; quota is taken per replica.
	for _, u := range []struct {
		res  string
		want int
	}{{"instances", 3}, {"ram", 3 * 512}, {"volumes", 3}} {
		if n := e.count("SELECT in_use FROM quota_usages WHERE tenant_id = ? AND resource = ?", projDemo, u.res); n != u.want {
			t.Errorf("%s in use %d, want %d", u.res, n, u.want)
		}
	}
	var ids []string
	for i, c := range e.tm.calls[1:] {
		a := c.Args.(taskapi.CreateInstanceArgs)
		if c.Method != taskapi.MethodCreateInstance || a.SlaveOfID == nil || *a.SlaveOfID != src || a.Flavor.ID != "1" ||
			a.VolumeSize == nil || *a.VolumeSize != 1 || a.DatastoreManager != "mysql" || a.Name != []string{"rep-1", "rep-2"}[i] {
			t.Errorf("cast %d: %s %+v", i, c.Method, a)
		}
		ids = append(ids, a.InstanceID)
		row := e.instanceRow(a.InstanceID)
		if row.SlaveOfID != src || row.FlavorID != "1" || row.VolumeSize != 1 || row.DatastoreVersionID != e.mysql.ID {
			t.Errorf("replica row %+v", row)
		}
	}
	if len(ids) != 2 {
		t.Fatalf("casts %v", e.tm.methods())
	}

	// The primary lists its replicas (show and both lists); each replica names its source.
	r = e.do("demo", "GET", p+src, nil)
	reps, _ := r.Body["instance"].(map[string]any)["replicas"].([]any)
	if len(reps) != 2 || !slices.Contains(ids, reps[0].(map[string]any)["id"].(string)) ||
		!slices.Contains(ids, reps[1].(map[string]any)["id"].(string)) || reps[0].(map[string]any)["id"] == reps[1].(map[string]any)["id"] ||
		len(reps[0].(map[string]any)["links"].([]any)) != 2 {
		t.Errorf("primary's replicas: %s", r.Raw)
	}
	if _, ok := r.Body["instance"].(map[string]any)["replica_of"]; ok {
		t.Errorf("primary shows replica_of: %s", r.Raw)
	}
	for _, path := range []string{"/v1.0/" + projDemo + "/instances", "/v1.0/" + projDemo + "/instances/detail"} {
		r = e.do("demo", "GET", path, nil)
		for _, it := range r.Body["instances"].([]any) {
			m := it.(map[string]any)
			_, hasReps := m["replicas"]
			ro, _ := m["replica_of"].(map[string]any)
			switch m["id"] {
			case src:
				if !hasReps || len(m["replicas"].([]any)) != 2 || ro != nil {
					t.Errorf("%s: primary %v", path, m)
				}
			default:
				if hasReps || ro == nil || ro["id"] != src {
					t.Errorf("%s: replica %v", path, m)
				}
			}
		}
	}
	// A source's volume resize resizes its replicas too (Trove): every one must be able to act; quota for all.
	if r := e.do("demo", "POST", p+src+"/action", `{"resize": {"volume": {"size": 2}}}`); r.Code != 422 {
		t.Errorf("resize while the replicas build: %d %s", r.Code, r.Raw)
	}
	for _, id := range ids {
		e.markActive(id)
	}
	before := len(e.tm.calls)
	if r := e.do("demo", "POST", p+src+"/action", `{"resize": {"volume": {"size": 2}}}`); r.Code != 202 {
		t.Fatalf("resize the source: %d %s", r.Code, r.Raw)
	}
	var resized []string
	for _, c := range e.tm.calls[before:] {
		a := c.Args.(taskapi.ResizeVolumeArgs)
		if c.Method != taskapi.MethodResizeVolume || a.NewSize != 2 {
			t.Errorf("cast %s %+v", c.Method, a)
		}
		resized = append(resized, a.InstanceID)
		if tk := e.instanceRow(a.InstanceID).Task(); tk != status.TaskResizing {
			t.Errorf("%s task %s", a.InstanceID, tk.DBText)
		}
	}
	slices.Sort(resized)
	want := append([]string{src}, ids...)
	slices.Sort(want)
	if !slices.Equal(resized, want) {
		t.Errorf("resized %v, want %v", resized, want)
	}
	if n := e.count("SELECT in_use FROM quota_usages WHERE tenant_id = ? AND resource = 'volumes'", projDemo); n != 6 {
		t.Errorf("volumes in use %d after resizing 3 instances to 2", n)
	}
	// A source with replicas cannot be deleted (Trove's ReplicaSourceDeleteForbidden).
	if r := e.do("demo", "DELETE", p+src, nil); r.Code != 403 || r.faultMessage() != "Detach replicas before deleting replica source." {
		t.Errorf("delete source: %d %s", r.Code, r.Raw)
	}
}

func TestReplicationActions(t *testing.T) {
	var skew time.Duration // the API's clock ahead of the catalog's heartbeat times
	e := newEnv(t)
	e.api.now = func() time.Time { return time.Now().Add(skew) }
	p := "/v1.0/" + projDemo + "/instances/"
	src := e.createInstance("demo", "src")
	e.markActive(src)
	r := e.createReplicas("demo", "rep", src, 2)
	if r.Code != 200 {
		t.Fatalf("create replicas: %d %s", r.Code, r.Raw)
	}
	r1 := e.tm.calls[1].Args.(taskapi.CreateInstanceArgs).InstanceID
	r2 := e.tm.calls[2].Args.(taskapi.CreateInstanceArgs).InstanceID
	e.markActive(r1)
	e.markActive(r2)
	casts := len(e.tm.calls)

	action := func(id, body string) response { return e.do("demo", "POST", p+id+"/action", body) }
	// Promote: only a replica; eject: only a source, and only without a current heartbeat.
	if r := action(src, `{"promote_to_replica_source": {}}`); r.Code != 400 || r.faultMessage() != "Instance "+src+" is not a replica." {
		t.Errorf("promote the source: %d %s", r.Code, r.Raw)
	}
	if r := action(r1, `{"eject_replica_source": {}}`); r.Code != 400 || r.faultMessage() != "Instance "+r1+" is not a replica source." {
		t.Errorf("eject a replica: %d %s", r.Code, r.Raw)
	}
	if err := e.db.SetServiceStatus(context.Background(), src, status.Healthy); err != nil { // a heartbeat now
		t.Fatal(err)
	}
	if r := action(src, `{"eject_replica_source": {}}`); r.Code != 400 || !strings.Contains(r.faultMessage(), "cannot be ejected as it has a current heartbeat") {
		t.Errorf("eject a live source: %d %s", r.Code, r.Raw)
	}
	if len(e.tm.calls) != casts {
		t.Fatalf("casts after refused actions: %v", e.tm.methods()[casts:])
	}

	// Promote r1: the source and every replica show PROMOTE; the cast names r1.
	if r := action(r1, `{"promote_to_replica_source": {}}`); r.Code != 202 {
		t.Fatalf("promote: %d %s", r.Code, r.Raw)
	}
	for _, id := range []string{src, r1, r2} {
		if tk := e.instanceRow(id).Task(); tk != status.TaskPromoting {
			t.Errorf("%s task %s after promote", id, tk.DBText)
		}
		if r := e.do("demo", "GET", p+id, nil); r.Body["instance"].(map[string]any)["status"] != "PROMOTE" {
			t.Errorf("%s status after promote: %s", id, r.Raw)
		}
	}
	if c := e.tm.calls[len(e.tm.calls)-1]; c.Method != taskapi.MethodPromoteToReplicaSource || c.Args.(taskapi.ReplicationArgs).InstanceID != r1 {
		t.Errorf("promote cast %+v", c)
	}
	// While promoting, a second action is refused.
	if r := action(r2, `{"promote_to_replica_source": {}}`); r.Code != 422 {
		t.Errorf("promote while promoting: %d %s", r.Code, r.Raw)
	}
	for _, id := range []string{src, r1, r2} {
		e.markActive(id)
	}

	// Eject once the source's heartbeat is older than agent_heartbeat_expiry (90 s here).
	skew = 91 * time.Second
	if r := action(src, `{"eject_replica_source": {}}`); r.Code != 202 {
		t.Fatalf("eject: %d %s", r.Code, r.Raw)
	}
	for _, id := range []string{src, r1, r2} {
		if tk := e.instanceRow(id).Task(); tk != status.TaskEjecting {
			t.Errorf("%s task %s after eject", id, tk.DBText)
		}
	}
	if c := e.tm.calls[len(e.tm.calls)-1]; c.Method != taskapi.MethodEjectReplicaSource || c.Args.(taskapi.ReplicationArgs).InstanceID != src {
		t.Errorf("eject cast %+v", c)
	}
	for _, id := range []string{src, r1, r2} {
		e.markActive(id)
	}
	skew = 0

	// Detach: PUT replica_of null or PATCH slave_of null, Trove's way; not on a non-replica.
	if r := e.do("demo", "PUT", p+src, `{"instance": {"replica_of": null}}`); r.Code != 400 || r.faultMessage() != "Instance "+src+" is not a replica." {
		t.Errorf("detach the source: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "PATCH", p+r2, `{"instance": {"slave_of": null}}`); r.Code != 202 {
		t.Fatalf("detach r2: %d %s", r.Code, r.Raw)
	}
	if tk := e.instanceRow(r2).Task(); tk != status.TaskDetaching {
		t.Errorf("r2 task %s after detach", tk.DBText)
	}
	if r := e.do("demo", "GET", p+r2, nil); r.Body["instance"].(map[string]any)["status"] != "DETACH" {
		t.Errorf("r2 status after detach: %s", r.Raw)
	}
	if c := e.tm.calls[len(e.tm.calls)-1]; c.Method != taskapi.MethodDetachReplica || c.Args.(taskapi.ReplicationArgs).InstanceID != r2 {
		t.Errorf("detach cast %+v", c)
	}
	// A second detach while detaching is refused with 422.
	if r := e.do("demo", "PUT", p+r2, `{"instance": {"replica_of": null}}`); r.Code != 422 {
		t.Errorf("detach while detaching: %d %s", r.Code, r.Raw)
	}
	// Another project cannot act on the replica set.
	if r := e.do("demo2", "POST", "/v1.0/"+projDemo2+"/instances/"+r1+"/action", `{"promote_to_replica_source": {}}`); r.Code != 404 {
		t.Errorf("another project's promote: %d %s", r.Code, r.Raw)
	}
}
