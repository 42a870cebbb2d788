package api

import (
	"context"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
)

// The in-process guest's logs: what a Trove guest answers for a mysql instance, SYS logs for admins only.
func (g *memGuest) GuestLogList(_ context.Context, rc rpc.Context) ([]guestapi.GuestLog, error) {
	if err := g.rec("guest_log_list token=" + rc.AuthToken); err != nil {
		return nil, err
	}
	var out []guestapi.GuestLog
	for _, d := range guestapi.GuestLogDefs("mysql") {
		if guestapi.LogExposed(d.Name, guestapi.DefaultExposedLogs("mysql"), rc.IsAdmin) {
			out = append(out, guestapi.GuestLog{Name: d.Name, Type: d.Type, Status: guestapi.LogDisabled, Container: "None", Prefix: "None"})
		}
	}
	return out, nil
}

func (g *memGuest) GuestLogAction(_ context.Context, rc rpc.Context, a guestapi.GuestLogActionArgs) (guestapi.GuestLog, error) {
	if err := a.Validate(); err != nil {
		return guestapi.GuestLog{}, err
	}
	if err := g.rec("guest_log_action " + a.LogName + " token=" + rc.AuthToken); err != nil {
		return guestapi.GuestLog{}, err
	}
	d, _ := guestapi.GuestLogDef("mysql", a.LogName)
	if !guestapi.LogExposed(d.Name, guestapi.DefaultExposedLogs("mysql"), rc.IsAdmin) {
		return guestapi.GuestLog{}, rpc.Errorf("LogAccessForbidden", "You must be admin to show log '%s'.", a.LogName)
	}
	if d.Type == guestapi.LogTypeSys && a.Enable {
		return guestapi.GuestLog{}, rpc.Errorf("BadRequest", "Cannot enable a SYSTEM log ('%s').", a.LogName)
	}
	l := guestapi.GuestLog{Name: d.Name, Type: d.Type, Status: guestapi.LogEnabled, Container: "None", Prefix: "None"}
	if a.Publish {
		l.Status, l.Published, l.Container, l.Prefix = guestapi.LogPublished, 42, "database_logs", "i.mysql-"+d.Name+"."
	}
	return l, nil
}

func TestGuestLogRoutes(t *testing.T) {
	e := newEnv(t)
	g := &memGuest{dbs: map[string]bool{}, users: map[string]guestapi.User{}}
	e.api.guests = memGuests{g}
	id := e.createInstance("demo", "logs")
	p := "/v1.0/" + projDemo + "/instances/" + id + "/log"

	// Not ready yet: Trove's 422, and the guest is not called.
	if r := e.do("demo", "GET", p, nil); r.Code != 422 || !strings.Contains(r.faultMessage(), "is not ready") {
		t.Fatalf("log list while building: %d %s", r.Code, r.Raw)
	}
	if r := e.do("demo", "POST", p, `{"name": "general", "enable": 1}`); r.Code != 422 {
		t.Fatalf("log action while building: %d %s", r.Code, r.Raw)
	}
	e.markActive(id)
	if err := e.db.SetServiceStatus(t.Context(), id, status.Running); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		token, method, path, body string
		code                      int
		contains                  string
	}{
		{"demo", "GET", p, "", 200, `{"logs":[{"name":"general","type":"USER","status":"Disabled","published":0,"pending":0,"container":"None","prefix":"None","metafile":""},{"name":"slow_query"`},
		{"admin", "GET", "/v1.0/" + projAdmin + "/instances/" + id + "/log", "", 200, `"name":"guest","type":"SYS"`},
		{"demo", "POST", p, `{"name": "slow_query", "enable": 1}`, 200, `{"log":{"name":"slow_query","type":"USER","status":"Enabled"`},
		{"demo", "POST", p, `{"name": "slow_query", "publish": true}`, 200, `"status":"Published","published":42,"pending":0,"container":"database_logs"`},
		{"demo", "POST", p, `{"name": "guest", "publish": 1}`, 403, `You must be admin to show log 'guest'.`},
		{"demo", "POST", p, `{"name": "error", "enable": 1}`, 403, `"forbidden"`},
		{"admin", "POST", "/v1.0/" + projAdmin + "/instances/" + id + "/log", `{"name": "error", "enable": 1}`, 400, `Cannot enable a SYSTEM log ('error').`},
		{"admin", "POST", "/v1.0/" + projAdmin + "/instances/" + id + "/log", `{"name": "error", "publish": 1}`, 200, `"type":"SYS","status":"Published"`},
		{"demo", "POST", p, `{"name": "nosuch"}`, 404, `Log 'nosuch' is not defined.`},
		{"demo", "POST", p, `{"name": "general", "enable": 1, "disable": 1}`, 400, `Cannot enable and disable log.`},
		{"demo", "POST", p, `{"enable": 1}`, 400, `log's name`},
		{"demo", "POST", p, `{"name": ""}`, 400, `log's name`},
		{"demo", "POST", p, `{"name": 7}`, 400, `log's name`},
		{"demo", "POST", p, `["general"]`, 400, `must be an object`},
		{"demo", "POST", p, `{"name": "general", "publish": "yes"}`, 400, `'publish' must be a boolean or 0/1`},
		// Trove has no policy rule on POST: a reader of the project may act; GET needs instance:guest_log_list.
		{"reader", "POST", p, `{"name": "general"}`, 200, `"name":"general"`},
		// Another project's instance does not exist for the caller.
		{"demo2", "GET", "/v1.0/" + projDemo2 + "/instances/" + id + "/log", "", 404, `itemNotFound`},
		{"demo2", "POST", "/v1.0/" + projDemo2 + "/instances/" + id + "/log", `{"name": "general"}`, 404, `itemNotFound`},
	}
	for _, s := range steps {
		r := e.do(s.token, s.method, s.path, bodyOrNil(s.body))
		if r.Code != s.code || !strings.Contains(r.Raw, s.contains) {
			t.Errorf("%s %s %s %s: %d %s", s.token, s.method, s.path, s.body, r.Code, r.Raw)
		}
	}
	// The guest is called with the caller's token (publish acts on the caller's store), and never for a
	// refused request.
	g.mu.Lock()
	calls := strings.Join(g.calls, "\n")
	g.mu.Unlock()
	for _, want := range []string{"guest_log_list token=demo", "guest_log_action slow_query token=demo", "guest_log_action error token=admin"} {
		if !strings.Contains(calls, want) {
			t.Errorf("guest calls lack %q:\n%s", want, calls)
		}
	}
	if strings.Contains(calls, "nosuch") || strings.Contains(calls, "token=demo2") {
		t.Errorf("the guest was called for a refused request:\n%s", calls)
	}
	// Guest failures are Trove's GuestError (400) and timeouts its GuestTimeout, never a 500.
	g.fail = rpc.ErrTimeout
	if r := e.do("demo", "POST", p, `{"name": "general", "publish": 1}`); r.Code != 400 || !strings.Contains(r.faultMessage(), "Timeout") {
		t.Errorf("guest timeout: %d %s", r.Code, r.Raw)
	}
	g.fail = rpc.Errorf("GuestError", "Cannot publish log file 'general' as it does not exist.")
	if r := e.do("demo", "GET", p, nil); r.Code != 400 || !strings.Contains(r.faultMessage(), "does not exist") {
		t.Errorf("guest error: %d %s", r.Code, r.Raw)
	}
}
