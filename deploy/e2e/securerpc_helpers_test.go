package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/rpc/rpctest"
)

const (
	troveConf     = etcDir + "/trove.conf"
	conductorLog  = logDir + "/trove-conductor.log"
	conductorTopc = "trove-conductor"
	secureOption  = "enable_secure_rpc_messaging"
)

// controlPlane restarts trove-api, trove-taskmanager and trove-conductor with enable_secure_rpc_messaging
// switched, as an operator does: stop them, edit /etc/trove/trove.conf, start them with deploy/run.sh (which
// keeps a hand-edited trove.conf). Guests keep running throughout. The original file is restored (and the
// services restarted with it) when the test ends.
type controlPlane struct {
	t        *testing.T
	original []byte
}

func newControlPlane(t *testing.T) *controlPlane {
	t.Helper()
	b, err := os.ReadFile(troveConf)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^` + secureOption + ` = true$`).Match(b) {
		t.Fatalf("%s does not have %q; the scenario starts from deploy/run.sh's configuration", troveConf, secureOption+" = true")
	}
	cp := &controlPlane{t: t, original: b}
	t.Cleanup(func() {
		now, _ := os.ReadFile(troveConf)
		if bytes.Equal(now, cp.original) {
			return
		}
		cp.stop()
		if err := os.WriteFile(troveConf, cp.original, 0o640); err != nil {
			t.Errorf("restoring %s: %v", troveConf, err)
		}
		if out, err := runDeploy(); err != nil {
			t.Errorf("deploy/run.sh after restoring %s: %v\n%s", troveConf, err, out)
		}
	})
	return cp
}

func (cp *controlPlane) stop() {
	cp.t.Helper()
	out, err := exec.Command("bash", filepath.Join(deployment.repo, "deploy", "stop.sh"), "--quiet",
		"trove-api", "trove-taskmanager", "trove-conductor").CombinedOutput()
	if err != nil {
		cp.t.Fatalf("deploy/stop.sh: %v\n%s", err, out)
	}
}

// restart stops the control plane, sets the option, runs whileStopped (may be nil) and starts it again.
func (cp *controlPlane) restart(secure bool, whileStopped func()) {
	cp.t.Helper()
	cp.stop()
	text := regexp.MustCompile(`(?m)^`+secureOption+` = (true|false)$`).
		ReplaceAll(cp.original, []byte(fmt.Sprintf("%s = %v", secureOption, secure)))
	if err := os.WriteFile(troveConf, text, 0o640); err != nil {
		cp.t.Fatal(err)
	}
	if whileStopped != nil {
		whileStopped()
	}
	if out, err := runDeploy(); err != nil {
		cp.t.Fatalf("deploy/run.sh with %s = %v: %v\n%s", secureOption, secure, err, out)
	}
}

// confValue reads an option of /etc/trove/trove.conf.
func confValue(t *testing.T, section, name string) string {
	t.Helper()
	f, err := config.Load(config.Paths{Files: []string{troveConf}})
	if err != nil {
		t.Fatal(err)
	}
	return f.String(section, name, "")
}

// catalogKey is instances.encrypted_key ("NULL" for none), read as root over MariaDB's socket.
func catalogKey(t *testing.T, id string) string {
	t.Helper()
	return catalogQuery(t, "SELECT COALESCE(encrypted_key, 'NULL') FROM trove.instances WHERE id = '"+id+"'")
}

// catalogQuery runs SQL as root over MariaDB's socket and returns its output (no headers), trimmed.
func catalogQuery(t *testing.T, sql string) string {
	t.Helper()
	out, err := exec.Command("mariadb", "-N", "-B", "-e", sql).CombinedOutput()
	if err != nil {
		t.Fatalf("catalog query %q: %v\n%s", sql, err, out)
	}
	return strings.TrimSpace(string(out))
}

// dialControlPlane connects to the deployment's broker with the control plane's account (closed at cleanup).
func dialControlPlane(t *testing.T) *rpc.Transport {
	t.Helper()
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	tr, err := rpc.Dial(context.Background(), rpctest.Config(confValue(t, "DEFAULT", "transport_url"),
		confValue(t, "DEFAULT", "control_exchange")), logrus.NewEntry(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// guestInfo returns the instance's guest_info.conf options.
func guestInfo(t *testing.T, id string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(instancesDir, id, "etc/trove/conf.d/guest_info.conf"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// tap observes the deployment's broker: the guest topics of ids and the conductor topic.
func tap(t *testing.T, ids ...string) *rpctest.Tap {
	t.Helper()
	keys := []string{conductorTopc}
	for _, id := range ids {
		keys = append(keys, "guestagent."+id)
	}
	tp, err := rpctest.NewTap(confValue(t, "DEFAULT", "transport_url"), confValue(t, "DEFAULT", "control_exchange"), keys...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	return tp
}

// about reports whether a tapped message concerns instance id: sent on its guest topic, or sent to the
// conductor naming it (plaintext instance_id, trove csz-instance-id or the aead header's iid all carry the id).
func about(m rpctest.TappedMessage, id string) bool {
	return m.RoutingKey == "guestagent."+id || (m.RoutingKey == conductorTopc && bytes.Contains(m.Body, []byte(id)))
}

// collect reads tapped messages about id until want returns true for the collection or timeout passes.
func collect(t *testing.T, tp *rpctest.Tap, id string, timeout time.Duration, want func([]rpctest.TappedMessage) bool) []rpctest.TappedMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var got []rpctest.TappedMessage
	for !want(got) {
		m, err := tp.Next(ctx)
		if err != nil {
			t.Fatalf("broker tap for %s: %v after %d messages", id, err, len(got))
		}
		if about(m, id) {
			got = append(got, m)
		}
	}
	return got
}

func hasMethod(ms []rpctest.TappedMessage, method, key string) bool {
	for _, m := range ms {
		if m.Method() == method && m.RoutingKey == key {
			return true
		}
	}
	return false
}

// conductorRejects returns the conductor log's "rejected RPC message" lines (one per refused message).
func conductorRejects(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(conductorLog)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "rejected RPC message") {
			out = append(out, l)
		}
	}
	return out
}

// adminAction POSTs body to the API as the admin of /etc/trove/openrc.admin and returns the status code.
func adminAction(t *testing.T, path string, body string) int {
	t.Helper()
	admin := newCLI(t, deployment.admin)
	var tok struct {
		ID        string `json:"id"`
		ProjectID string `json:"project_id"`
	}
	admin.json(&tok, "token", "issue")
	ca, err := os.ReadFile(etcDir + "/ssl/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, err := http.NewRequest(http.MethodPost, apiURL+"/v1.0/"+tok.ProjectID+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", tok.ID)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var fault map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&fault)
	if resp.StatusCode >= 300 {
		t.Logf("POST %s: %d %v", path, resp.StatusCode, fault)
	}
	return resp.StatusCode
}

// showField returns one field of `instance show -f json` as the given CLI, and whether it is present.
func showField(t *testing.T, c *cli, id, field string) (any, bool) {
	t.Helper()
	var m map[string]any
	c.json(&m, "database", "instance", "show", id)
	v, ok := m[field]
	return v, ok
}

// ensureQuota raises the demo project's limits (as admin) so `need` more of each resource fit next to whatever
// else the shared deployment runs, and restores the old limits when the test ends.
func ensureQuota(t *testing.T, need map[string]int) {
	t.Helper()
	admin := newCLI(t, deployment.admin)
	var tok struct {
		ProjectID string `json:"project_id"`
	}
	demo(t).json(&tok, "token", "issue")
	var rows []struct {
		Resource string `json:"Resource"`
		InUse    int    `json:"In Use"`
		Limit    int    `json:"Limit"`
	}
	admin.json(&rows, "database", "quota", "show", tok.ProjectID)
	for _, r := range rows {
		n, ok := need[r.Resource]
		if !ok || r.Limit < 0 || r.InUse+n <= r.Limit {
			continue
		}
		admin.must("database", "quota", "update", tok.ProjectID, r.Resource, fmt.Sprint(r.InUse+n))
		old := r
		t.Cleanup(func() { admin.must("database", "quota", "update", tok.ProjectID, old.Resource, fmt.Sprint(old.Limit)) })
	}
}
