package api

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/guestapi"
)

// troveRoutes is the route table of Trove's REST API v1.0 (api.md §3 of the shared reference), one row per
// method and path; "[/{name}]" and "{root,diagnostics,hwinfo}" are spelt out. {t} is the caller's project,
// every other {x} an id. Paths are under /v1.0 except "/".
var troveRoutes = []struct{ method, path string }{
	{"GET", "/"},
	{"GET", "/{t}/instances"},
	{"GET", "/{t}/instances/detail"},
	{"POST", "/{t}/instances"},
	{"GET", "/{t}/instances/{id}"},
	{"PUT", "/{t}/instances/{id}"},
	{"PATCH", "/{t}/instances/{id}"},
	{"DELETE", "/{t}/instances/{id}"},
	{"POST", "/{t}/instances/{id}/action"},
	{"GET", "/{t}/instances/{id}/backups"},
	{"GET", "/{t}/instances/{id}/configuration"},
	{"GET", "/{t}/instances/{id}/log"},
	{"POST", "/{t}/instances/{id}/log"},
	{"GET", "/{t}/instances/{id}/ssl"},
	{"POST", "/{t}/instances/{id}/ssl"},
	{"GET", "/{t}/instances/{id}/modules"},
	{"POST", "/{t}/instances/{id}/modules"},
	{"DELETE", "/{t}/instances/{id}/modules/{module_id}"},
	{"GET", "/{t}/instances/{iid}/databases"},
	{"POST", "/{t}/instances/{iid}/databases"},
	{"GET", "/{t}/instances/{iid}/databases/{name}"},
	{"DELETE", "/{t}/instances/{iid}/databases/{name}"},
	{"GET", "/{t}/instances/{iid}/users"},
	{"POST", "/{t}/instances/{iid}/users"},
	{"PUT", "/{t}/instances/{iid}/users"},
	{"GET", "/{t}/instances/{iid}/users/{user}"},
	{"PUT", "/{t}/instances/{iid}/users/{user}"},
	{"DELETE", "/{t}/instances/{iid}/users/{user}"},
	{"GET", "/{t}/instances/{iid}/users/{user}/databases"},
	{"PUT", "/{t}/instances/{iid}/users/{user}/databases"},
	{"DELETE", "/{t}/instances/{iid}/users/{user}/databases/{db}"},
	{"GET", "/{t}/instances/{iid}/root"},
	{"POST", "/{t}/instances/{iid}/root"},
	{"DELETE", "/{t}/instances/{iid}/root"},
	{"GET", "/{t}/clusters/{cid}/root"},
	{"POST", "/{t}/clusters/{cid}/root"},
	{"GET", "/{t}/datastores"},
	{"GET", "/{t}/datastores/{id_or_name}"},
	{"DELETE", "/{t}/datastores/{id_or_name}"},
	{"GET", "/{t}/datastores/{ds}/versions"},
	{"GET", "/{t}/datastores/{ds}/versions/{id_or_name}"},
	{"GET", "/{t}/datastores/versions/{uuid}"},
	{"GET", "/{t}/datastores/{ds}/versions/{version_id}/flavors"},
	{"GET", "/{t}/datastores/{ds}/versions/{version_id}/volume-types"},
	{"GET", "/{t}/datastores/{ds}/versions/{ver}/parameters"},
	{"GET", "/{t}/datastores/{ds}/versions/{ver}/parameters/{name}"},
	{"GET", "/{t}/datastores/versions/{uuid}/parameters"},
	{"GET", "/{t}/datastores/versions/{uuid}/parameters/{name}"},
	{"GET", "/{t}/flavors"},
	{"GET", "/{t}/flavors/{id}"},
	{"GET", "/{t}/limits"},
	{"GET", "/{t}/backups"},
	{"POST", "/{t}/backups"},
	{"GET", "/{t}/backups/{id}"},
	{"DELETE", "/{t}/backups/{id}"},
	{"POST", "/{t}/backup_strategies"},
	{"GET", "/{t}/backup_strategies"},
	{"DELETE", "/{t}/backup_strategies"},
	{"GET", "/{t}/configurations"},
	{"POST", "/{t}/configurations"},
	{"GET", "/{t}/configurations/{id}"},
	{"PUT", "/{t}/configurations/{id}"},
	{"PATCH", "/{t}/configurations/{id}"},
	{"DELETE", "/{t}/configurations/{id}"},
	{"GET", "/{t}/configurations/{id}/instances"},
	{"GET", "/{t}/modules"},
	{"POST", "/{t}/modules"},
	{"GET", "/{t}/modules/{id}"},
	{"PUT", "/{t}/modules/{id}"},
	{"DELETE", "/{t}/modules/{id}"},
	{"GET", "/{t}/modules/{id}/instances"},
	{"PUT", "/{t}/modules/{id}/instances"},
	{"GET", "/{t}/clusters"},
	{"POST", "/{t}/clusters"},
	{"GET", "/{t}/clusters/{id}"},
	{"POST", "/{t}/clusters/{id}"},
	{"DELETE", "/{t}/clusters/{id}"},
	{"GET", "/{t}/clusters/{cid}/instances/{iid}"},
	{"GET", "/{t}/mgmt/instances"},
	{"GET", "/{t}/mgmt/instances/{id}"},
	{"POST", "/{t}/mgmt/instances/{id}/action"},
	{"GET", "/{t}/mgmt/instances/{id}/root"},
	{"GET", "/{t}/mgmt/instances/{id}/diagnostics"},
	{"GET", "/{t}/mgmt/instances/{id}/hwinfo"},
	{"GET", "/{t}/mgmt/instances/{id}/rpc_ping"},
	{"POST", "/{t}/mgmt/instances/{iid}/upgrade"},
	{"GET", "/{t}/mgmt/clusters"},
	{"GET", "/{t}/mgmt/clusters/{id}"},
	{"POST", "/{t}/mgmt/clusters/{id}/action"},
	{"GET", "/{t}/mgmt/quotas/{project_id}"},
	{"PUT", "/{t}/mgmt/quotas/{project_id}"},
	{"GET", "/{t}/mgmt/datastore-versions"},
	{"POST", "/{t}/mgmt/datastore-versions"},
	{"GET", "/{t}/mgmt/datastore-versions/{uuid}"},
	{"PATCH", "/{t}/mgmt/datastore-versions/{uuid}"},
	{"DELETE", "/{t}/mgmt/datastore-versions/{uuid}"},
	{"GET", "/{t}/mgmt/datastores/versions/{vid}/parameters"},
	{"POST", "/{t}/mgmt/datastores/versions/{vid}/parameters"},
	{"GET", "/{t}/mgmt/datastores/versions/{vid}/parameters/{name}"},
	{"PUT", "/{t}/mgmt/datastores/versions/{vid}/parameters/{name}"},
	{"DELETE", "/{t}/mgmt/datastores/versions/{vid}/parameters/{name}"},
}

// routeIDs are the values substituted for the placeholders of troveRoutes (ids of objects that do not exist:
// a built route answers its own 404/400, never the router's).
var routeIDs = map[string]string{
	"{ds}": "mysql", "{id_or_name}": "mysql", "{ver}": "8.0", "{name}": "app", "{db}": "app", "{user}": "appuser",
	"{project_id}": projAdmin,
}

const missingID = "5f1f1d0e-0000-4000-8000-00000000000a"

var placeholder = regexp.MustCompile(`\{[a-z_]+\}`)

// concretePath is a troveRoutes path with ids substituted, as tenant's request.
func concretePath(pattern, tenant string) string {
	if pattern == "/" {
		return "/"
	}
	return "/v1.0" + placeholder.ReplaceAllStringFunc(pattern, func(p string) string {
		if p == "{t}" {
			return tenant
		}
		if v, ok := routeIDs[p]; ok {
			return v
		}
		return missingID
	})
}

// patternMatches reports whether a concrete path (under /v1.0) fits a troveRoutes pattern, one segment per
// placeholder.
func patternMatches(pattern, path string) bool {
	ps, cs := strings.Split(pattern, "/"), strings.Split(strings.TrimPrefix(path, "/v1.0"), "/")
	if pattern == "/" || len(ps) != len(cs) {
		return pattern == path
	}
	for i := range ps {
		if !placeholder.MatchString(ps[i]) && ps[i] != cs[i] {
			return false
		}
	}
	return true
}

// documented501 reads the list under "### Routes answering 501" in docs/api.md: lines "- `METHOD /v1.0/...`".
func documented501(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open("../../../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	item := regexp.MustCompile("^- `([A-Z]+) (/v1\\.0/\\S+)`")
	out := map[string]bool{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "### Routes answering 501":
			in = true
		case in && strings.HasPrefix(line, "#"):
			in = false
		case in:
			if m := item.FindStringSubmatch(line); m != nil {
				key := m[1] + " " + m[2]
				if out[key] {
					t.Errorf("docs/api.md lists %s twice", key)
				}
				out[key] = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal(`docs/api.md has no "### Routes answering 501" list`)
	}
	return out
}

const notImplementedBody = `{"notImplemented":{"code":501,"message":"The server has either erred or is incapable of performing the requested operation."}}`

// TestEveryTroveRouteIsRouted sends every route of Trove's API through the real router: none is the router's
// 404 (or a 405), the ones answering 501 are exactly those docs/api.md lists, they answer only after identity
// and the tenant-path check (and the admin check under /mgmt), and a method a path does not have is the
// router's 404, as in Trove.
func TestEveryTroveRouteIsRouted(t *testing.T) {
	e := newEnv(t)
	e.api.guests = memGuests{&memGuest{dbs: map[string]bool{}, users: map[string]guestapi.User{}}}
	noRoute := func(r response) bool {
		return r.Code == 404 && r.faultName() == "itemNotFound" && r.faultMessage() == errNoRoute.Message
	}
	answered501 := map[string]bool{}
	methods := map[string][]string{} // concrete path → routed methods
	for _, rt := range troveRoutes {
		p := concretePath(rt.path, projAdmin)
		methods[p] = append(methods[p], rt.method)
		r := e.do("admin", rt.method, p, nil)
		switch {
		case noRoute(r) || r.Code == 405:
			t.Errorf("%s %s is not routed: %d %s", rt.method, p, r.Code, r.Raw)
		case r.Code == 501:
			answered501[rt.method+" /v1.0"+rt.path] = true
			if strings.Contains(rt.path, "/{iid}/databases/{name}") {
				continue // Trove's own 501 (databases have no show); its message is the same
			}
			if strings.HasSuffix(rt.path, "/volume-types") {
				// The local driver has no volume types; the 501 says so.
				if r.faultName() != "notImplemented" || !strings.Contains(r.faultMessage(), "volume types") {
					t.Errorf("%s %s: 501 body %s, want the driver's no-volume-types fault", rt.method, p, r.Raw)
				}
				continue
			}
			if r.Raw != notImplementedBody {
				t.Errorf("%s %s: 501 body %s, want %s", rt.method, p, r.Raw, notImplementedBody)
			}
		}
	}

	documented := documented501(t)
	var extra, missing []string
	for k := range answered501 {
		if !documented[k] {
			extra = append(extra, k)
		}
	}
	for k := range documented {
		if !answered501[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(extra)
	sort.Strings(missing)
	if len(extra) > 0 {
		t.Errorf("answer 501 but are not listed under \"Routes answering 501\" in docs/api.md:\n  %s", strings.Join(extra, "\n  "))
	}
	if len(missing) > 0 {
		t.Errorf("listed under \"Routes answering 501\" in docs/api.md but do not answer 501 (or are not Trove routes):\n  %s", strings.Join(missing, "\n  "))
	}

	// The 501 routes refuse exactly like a built route: no token → 401, another project's path → the same 403,
	// and a non-admin on /mgmt → 401.
	refusal := func(token, path string) response { return e.do(token, "GET", path, nil) }
	unauth := refusal("", "/v1.0/"+projDemo+"/instances")
	otherProject := refusal("demo", "/v1.0/"+projDemo2+"/instances")
	notAdmin := refusal("demo", "/v1.0/"+projDemo+"/mgmt/instances")
	if unauth.Code != 401 || otherProject.Code != 403 || notAdmin.Code != 401 {
		t.Fatalf("built routes' refusals: %d %d %d", unauth.Code, otherProject.Code, notAdmin.Code)
	}
	for _, rt := range troveRoutes {
		key := rt.method + " /v1.0" + rt.path
		if !documented[key] {
			continue
		}
		if r := e.do("", rt.method, concretePath(rt.path, projDemo), nil); r.Code != 401 || r.Raw != unauth.Raw {
			t.Errorf("%s without a token: %d %s", key, r.Code, r.Raw)
		}
		if r := e.do("demo", rt.method, concretePath(rt.path, projDemo2), nil); r.Code != 403 || r.Raw != otherProject.Raw {
			t.Errorf("%s on another project's path: %d %s, want %s", key, r.Code, r.Raw, otherProject.Raw)
		}
		r := e.do("demo", rt.method, concretePath(rt.path, projDemo), nil)
		if strings.HasPrefix(rt.path, "/{t}/mgmt/") {
			if r.Code != 401 || r.Raw != notAdmin.Raw {
				t.Errorf("%s as non-admin: %d %s, want %s", key, r.Code, r.Raw, notAdmin.Raw)
			}
		} else if r.Code != 501 {
			t.Errorf("%s as its project's member: %d %s", key, r.Code, r.Raw)
		}
	}

	// A method a path does not have is the router's 404 (Trove: no route matches), unless another route's
	// pattern takes it (PUT /instances/detail is PUT /instances/{id}).
	paths := make([]string, 0, len(methods))
	for p := range methods {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		ms := methods[p]
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if slices.Contains(ms, m) || otherRouteTakes(m, p) {
				continue
			}
			if r := e.do("admin", m, p, nil); !noRoute(r) {
				t.Errorf("%s %s (method not routed): %d %s, want the router's 404", m, p, r.Code, r.Raw)
			}
		}
	}
}

func otherRouteTakes(method, path string) bool {
	for _, rt := range troveRoutes {
		if rt.method == method && patternMatches(rt.path, path) {
			return true
		}
	}
	return false
}
