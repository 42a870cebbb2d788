package api

import (
	"encoding/json"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/services/api/internal/fault"
)

// faultNames are the keys of Trove's fault bodies (api.md §1.5).
var faultNames = map[string]bool{"badRequest": true, "unauthorized": true, "forbidden": true, "itemNotFound": true,
	"badMethod": true, "notAcceptable": true, "conflict": true, "overLimit": true, "badMediaType": true,
	"unprocessableEntity": true, "instanceFault": true, "notImplemented": true, "serviceUnavailable": true}

// fuzzBodies are valid bodies of the write routes that validBodies lacks; mutating a valid body reaches deeper.
var fuzzBodies = map[string]string{
	"POST /{t}/instances": `{"instance": {"name": "fz", "flavorRef": "1", "volume": {"size": 1, "type": null},
		"datastore": {"type": "mysql", "version": "8.0"}, "databases": [{"name": "app", "character_set": "utf8mb4", "collate": "utf8mb4_bin"}],
		"users": [{"name": "u1", "password": "pw", "host": "%", "databases": [{"name": "app"}]}],
		"nics": [{"net-id": "5f1f1d0e-0000-4000-8000-00000000000a"}], "availability_zone": "az", "locality": "affinity",
		"access": {"is_public": true, "allowed_cidrs": ["10.0.0.0/8"]}}}`,
	"POST /{t}/configurations": `{"configuration": {"name": "cf", "description": "d", "values": {"max_connections": 10, "autocommit": true},
		"datastore": {"type": "mysql", "version": "8.0"}}}`,
	"PUT /{t}/mgmt/quotas/{project_id}": `{"quotas": {"instances": 20, "volumes": -1, "backups": null}}`,
	"POST /{t}/backups": `{"backup": {"name": "b", "instance": "5f1f1d0e-0000-4000-8000-00000000000a", "description": "d",
		"parent_id": "5f1f1d0e-0000-4000-8000-00000000000b", "incremental": 1, "swift_container": "c"}}`,
	"POST /{t}/backup_strategies":  `{"backup_strategy": {"instance_id": "5f1f1d0e-0000-4000-8000-00000000000a", "swift_container": "c"}}`,
	"POST /{t}/instances/{id}/log": `{"name": "slow_query", "enable": 1, "publish": true, "discard": 0, "disable": null}`,
}

// junkValues replace each value of a valid body in turn.
var junkValues = []any{nil, true, 0, -1, 1.5, json.Number("1e400"), json.Number("123456789012345678901234567890"), "", " ",
	strings.Repeat("x", 70000), "\u0000\u202e😀'\";--\\", "../../etc/passwd", []any{}, []any{nil}, map[string]any{},
	map[string]any{"": map[string]any{"": []any{nil}}}}

// junkBodies are malformed documents sent to every write route as they are.
func junkBodies() []string {
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	deepObj := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	return []string{"", " ", "{", "[", `"`, `{"`, `{"a"`, `{"a":`, `{"a":1`, "nul", "tru", "1e", "-", `{"a":1}}`, "{} {}", "[]", "1",
		"-1", "1e400", `"s"`, "null", "true", "{}", `{"":{}}`, "\x00", "\xff\xfe", `{"a":"` + "\xff" + `"}`, `{"a":"\ud800"}`,
		"\xef\xbb\xbf{}", deep, deepObj, `{"a":` + strings.Repeat(`"x",`, 1) + `}`, strings.Repeat(`{"a":[1,{"b":null}]},`, 100),
		`{"instance": null}`, `{"users": [null]}`, `{"databases": [{"name": null}]}`, `{"quotas": {"instances": "1"}}`,
		`{"configuration": {"values": {"` + strings.Repeat("k", 100000) + `": 1}}}`, `{"user": {"name": {"$gt": ""}}}`,
		`{"restart": [], "resize": {}}`, `{"resize": {"volume": {"size": "99999999999999999999999999999999999999999"}}}`,
		`{"reset_status": {"force_delete": null}}`, `{"rotate_rpc_key": null}`,
		`{"instance": {"name": "` + strings.Repeat("é", 300000) + `"}}`, // under 1 MiB of UTF-8
		`{"instance": {"name": "` + strings.Repeat("a", 1<<20) + `"}}`,  // over: 413
	}
}

// leafPaths lists the paths (keys and indexes) of every value in a decoded document, containers included.
func leafPaths(v any, prefix []any, out *[][]any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := append(append([]any(nil), prefix...), k)
			*out = append(*out, p)
			leafPaths(x[k], p, out)
		}
	case []any:
		for i, e := range x {
			p := append(append([]any(nil), prefix...), i)
			*out = append(*out, p)
			leafPaths(e, p, out)
		}
	}
}

// replaced returns a copy of doc with the value at p replaced by v (remove: deleted instead).
func replaced(doc any, p []any, v any, remove bool) any {
	if len(p) == 0 {
		return v
	}
	switch x := doc.(type) {
	case map[string]any:
		c := make(map[string]any, len(x))
		for k, e := range x {
			c[k] = e
		}
		k := p[0].(string)
		if remove && len(p) == 1 {
			delete(c, k)
		} else {
			c[k] = replaced(x[k], p[1:], v, remove)
		}
		return c
	case []any:
		c := append([]any(nil), x...)
		i := p[0].(int)
		if remove && len(p) == 1 {
			return append(c[:i], c[i+1:]...)
		}
		c[i] = replaced(x[i], p[1:], v, remove)
		return c
	}
	return doc
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mutations are a valid body with each value replaced by each junk value, deleted, or joined by an unexpected
// key, then byte-level damage (truncation, flipped and inserted bytes) from a fixed seed.
func mutations(t *testing.T, valid string, rng *rand.Rand) []string {
	var doc any
	d := json.NewDecoder(strings.NewReader(valid))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		t.Fatalf("fuzz seed %s: %v", valid, err)
	}
	var paths [][]any
	leafPaths(doc, nil, &paths)
	var out []string
	for _, p := range paths {
		for _, v := range junkValues {
			out = append(out, mustJSON(t, replaced(doc, p, v, false)))
		}
		out = append(out, mustJSON(t, replaced(doc, p, nil, true)))
		if m, ok := doc.(map[string]any); ok && len(p) == 1 {
			if inner, ok := m[p[0].(string)].(map[string]any); ok {
				extra := map[string]any{"password": "fuzz-secret"}
				for k, v := range inner {
					extra[k] = v
				}
				out = append(out, mustJSON(t, replaced(doc, p, extra, false)))
			}
		}
	}
	for range 30 {
		b := []byte(valid)
		switch rng.Intn(3) {
		case 0:
			b = b[:rng.Intn(len(b))]
		case 1:
			for range 1 + rng.Intn(4) {
				b[rng.Intn(len(b))] = byte(rng.Intn(256))
			}
		default:
			i := rng.Intn(len(b))
			junk := []string{`"`, "{", "}", "[", "]", ",", ":", "\\", "\x00", "\xc3", `\u0000`, "null", "-0", "1e999"}[rng.Intn(14)]
			b = append(b[:i], append([]byte(junk), b[i:]...)...)
		}
		out = append(out, string(b))
	}
	return out
}

// Malformed bodies on every write route (POST/PUT/PATCH) of the real router, against the real catalog: never a
// 5xx (a 501 only as the notImplemented fault of a deliberately unsupported feature), and every refusal is
// Trove's fault body with a bounded message (issue 12).
func TestMalformedBodiesOnEveryWriteRoute(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if err := e.db.UpsertConfigParams(ctx, e.mysql.ID, []catalog.ConfigParam{
		{Name: "max_connections", DataType: "integer", MinSize: "1", MaxSize: "100000"}, {Name: "autocommit", DataType: "boolean"}}); err != nil {
		t.Fatal(err)
	}
	g := &memGuest{dbs: map[string]bool{"app": true}, users: map[string]guestapi.User{"appuser@%": {Name: "appuser", Host: "%"}}}
	e.api.guests = memGuests{g}
	id := e.createInstance("admin", "fuzz")
	e.markActive(id)
	if err := e.db.SetServiceStatus(ctx, id, status.Running); err != nil {
		t.Fatal(err)
	}
	conf, err := e.db.CreateConfiguration(ctx, catalog.Configuration{Name: "c", TenantID: projAdmin, DatastoreVersionID: e.mysql.ID}, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	objs := routeObjects{instance: id, configuration: conf.ID, version: e.mysql.ID}
	documented := documented501(t)
	rng := rand.New(rand.NewSource(12))
	junk := junkBodies()
	routes, requests := 0, 0
	for _, rt := range troveRoutes {
		key := rt.method + " /v1.0" + rt.path
		if rt.method != "POST" && rt.method != "PUT" && rt.method != "PATCH" || documented[key] {
			continue
		}
		routes++
		pattern := rt.path
		if ph, obj := objs.of(pattern); ph != "" {
			pattern = strings.Replace(pattern, ph, obj, 1)
		}
		path := concretePath(pattern, projAdmin)
		bodies := junk
		seed, ok := fuzzBodies[rt.method+" "+rt.path]
		if v, has := validBodies[rt.method+" "+rt.path]; has && !ok {
			seed, ok = v.(string), true
		}
		if !ok {
			t.Errorf("%s: no valid body to mutate", key)
		} else {
			bodies = append(append([]string{seed}, junk...), mutations(t, seed, rng)...)
		}
		for _, b := range bodies {
			requests++
			r := e.do("admin", rt.method, path, b)
			desc := func() string { return rt.method + " " + path + " " + strings.ToValidUTF8(b[:min(len(b), 200)], "?") }
			if r.Code >= 500 && !(r.Code == 501 && r.faultName() == "notImplemented") {
				t.Errorf("%s: %d %s", desc(), r.Code, r.Raw)
				continue
			}
			if r.Code < 300 {
				continue
			}
			name := r.faultName()
			f, _ := r.Body[name].(map[string]any)
			msg, _ := f["message"].(string)
			if !faultNames[name] || f["code"] != float64(r.Code) || msg == "" || utf8.RuneCountInString(msg) > fault.MaxMessage+1 {
				t.Errorf("%s: %d not Trove's fault body: %.300s", desc(), r.Code, r.Raw)
			}
			if strings.Contains(r.Raw, "fuzz-secret") {
				t.Errorf("%s: the body repeats a password: %.300s", desc(), r.Raw)
			}
		}
	}
	if routes < 15 {
		t.Fatalf("only %d write routes", routes)
	}
	t.Logf("%d malformed requests over %d write routes", requests, routes)
}
