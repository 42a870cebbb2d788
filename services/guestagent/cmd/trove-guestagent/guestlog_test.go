package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/keystone"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/testenv"
)

// swiftLogin logs the demo user in (password auth, Keystone v3) and returns its token and catalog: what trove-api
// puts in the RPC context of a guest_log_action.
func swiftLogin(t *testing.T) (token string, catalog json.RawMessage) {
	t.Helper()
	body := fmt.Sprintf(`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "demo",
		"domain": {"id": "default"}, "password": %q}}}, "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}}`,
		testenv.Get(t, "TROVE_TEST_DEMO_PASSWORD"))
	resp, err := http.Post(strings.TrimRight(testenv.KeystoneURL(t), "/")+"/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("keystone login: %v", err)
	}
	defer resp.Body.Close()
	var doc struct {
		Token struct {
			Catalog json.RawMessage `json:"catalog"`
		} `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("keystone login: %d %v", resp.StatusCode, err)
	}
	return resp.Header.Get("X-Subject-Token"), doc.Token.Catalog
}

// swiftGet is a GET on the tenant's object store as the user.
func swiftGet(t *testing.T, token, u string) (int, []byte) {
	t.Helper()
	code, _, b := swiftDo(t, http.MethodGet, token, u)
	return code, b
}

func swiftDo(t *testing.T, method, token, u string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	req.Header.Set("X-Auth-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// Guest logs through the real agent binary over RabbitMQ, published to the real Swift as the caller (the
// token and catalog of the RPC context, as trove-api sends them): the slow-query log, the server's error log
// and the agent's own log; content checked in Swift; discard leaves nothing under the instance's prefix.
func TestGuestLogsOverRPC(t *testing.T) {
	url0 := testenv.TransportURL(t)
	bin := buildAgent(t)
	e := setup(t, bin, url0, flavor{manager: "mariadb", envelope: rpc.EnvelopeAEAD, port: "3306", pidFile: "run/mysqld.pid", login: mariadbLogin, root: "root"})
	// log_file (the guest log) and a short guest_log_long_query_time; the store is Swift ([DEFAULT]
	// storage_strategy's default).
	writeConf(t, e.confDir, "zz-guestlog.conf", fmt.Sprintf("[DEFAULT]\nlog_file = %s\n[mariadb]\nguest_log_long_query_time = 100\n", e.g.logFile))
	e.g.stop(syscall.SIGTERM)
	e.g.start()
	e.ping(t)
	ctx := context.Background()
	gc, rc := e.gc, e.rc
	rootPW := "Root-Pa55word"
	if err := gc.Prepare(ctx, rc, guestapi.PrepareArgs{MemoryMB: 512, RootPassword: &rootPW}); err != nil {
		t.Fatal(err)
	}
	e.cond.waitStatus(t, "healthy")

	token, catalog := swiftLogin(t)
	user := rc
	user.AuthToken, user.ServiceCatalog = token, catalog
	admin := user
	admin.IsAdmin = true
	storageURL, err := keystone.ServiceURL(catalog, "object-store", "public", "")
	if err != nil {
		t.Fatal(err)
	}
	list := func(c rpc.Context) string {
		logs, err := gc.GuestLogList(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, l := range logs {
			names = append(names, l.Name+":"+l.Type)
		}
		return strings.Join(names, ",")
	}
	if got := list(user); got != "general:USER,slow_query:USER" {
		t.Fatalf("a user lists %s", got)
	}
	if got := list(admin); got != "general:USER,slow_query:USER,error:SYS,guest:SYS" {
		t.Fatalf("an admin lists %s", got)
	}
	if _, err := gc.GuestLogAction(ctx, user, guestapi.GuestLogActionArgs{LogName: "error", Publish: true}); rpc.Kind(err) != "LogAccessForbidden" {
		t.Fatalf("a user publishing the error log: %v", err)
	}
	if l, err := gc.GuestLogAction(ctx, user, guestapi.GuestLogActionArgs{LogName: "slow_query", Enable: true}); err != nil || l.Status != guestapi.LogEnabled && l.Status != guestapi.LogReady {
		t.Fatalf("enable slow_query: %+v %v", l, err)
	}
	cmd := exec.Command("mariadb", "--no-defaults", "-h", e.addr, "-u", "root", "-N", "-B", "-e", "SELECT SLEEP(0.3) AS over_rpc_slow")
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+rootPW)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("slow query: %v %s", err, out)
	}

	objects := func(prefix string) []string {
		code, b := swiftGet(t, token, storageURL+"/database_logs?format=json&prefix="+url.QueryEscape(prefix))
		if code == http.StatusNotFound || code == http.StatusNoContent {
			return nil
		}
		var objs []struct {
			Name string `json:"name"`
		}
		if code != http.StatusOK || json.Unmarshal(b, &objs) != nil {
			t.Fatalf("listing database_logs: %d %s", code, b)
		}
		var names []string
		for _, o := range objs {
			names = append(names, o.Name)
		}
		return names
	}
	content := func(prefix string) string {
		var all bytes.Buffer
		for _, n := range objects(prefix) {
			code, h, b := swiftDo(t, http.MethodGet, token, storageURL+"/database_logs/"+url.PathEscape(n))
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d", n, code)
			}
			// what `openstack database log tail` reads, and guest_log_expiry
			if lines := h.Get("X-Object-Meta-Lines"); lines != strconv.Itoa(bytes.Count(b, []byte("\n"))) || h.Get("X-Delete-At") == "" {
				t.Fatalf("%s: X-Object-Meta-Lines %q for %d lines, X-Delete-At %q", n, lines, bytes.Count(b, []byte("\n")), h.Get("X-Delete-At"))
			}
			all.Write(b)
		}
		return all.String()
	}
	for _, c := range []struct {
		log  string
		as   rpc.Context
		want string
	}{
		{"slow_query", user, "over_rpc_slow"},
		{"error", admin, "ready for connections"},
		{"guest", admin, "guest agent serving"},
	} {
		l, err := gc.GuestLogAction(ctx, c.as, guestapi.GuestLogActionArgs{LogName: c.log, Publish: true})
		// the guest log grows while it is published (the agent logs the publish): Partial then
		if err != nil || l.Status != guestapi.LogPublished && (c.log != "guest" || l.Status != guestapi.LogPartial) ||
			l.Container != "database_logs" || l.Published <= 0 {
			t.Fatalf("publish %s: %+v %v", c.log, l, err)
		}
		if got := content(l.Prefix); !strings.Contains(got, c.want) || int64(len(got)) != l.Published {
			t.Fatalf("%s in Swift (%d bytes, published %d) lacks %q:\n%s", c.log, len(got), l.Published, c.want, got)
		}
		if code, _ := swiftGet(t, token, storageURL+"/database_logs/"+url.PathEscape(l.Metafile)); code != http.StatusOK {
			t.Fatalf("metafile %s: %d", l.Metafile, code)
		}
	}
	for _, c := range []struct {
		log string
		as  rpc.Context
	}{{"slow_query", user}, {"error", admin}, {"guest", admin}} {
		if l, err := gc.GuestLogAction(ctx, c.as, guestapi.GuestLogActionArgs{LogName: c.log, Discard: true}); err != nil || l.Published != 0 {
			t.Fatalf("discard %s: %+v %v", c.log, l, err)
		}
	}
	if left := objects(e.id); len(left) != 0 {
		t.Fatalf("objects left after discard: %v", left)
	}
}
