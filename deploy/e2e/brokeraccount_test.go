package e2e

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/rpc/rpctest"
	"github.com/trove-go/trove/pkg/testenv"
)

// guestBrokerURL is the transport_url the taskmanager wrote into the instance's trove-guestagent.conf, and the
// file's text.
func guestBrokerURL(t *testing.T, id string) (string, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(instancesDir, id, "etc/trove/conf.d/trove-guestagent.conf"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := config.Parse(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return f.String("DEFAULT", "transport_url", ""), string(b)
}

// demo2 is the CLI as user demo2 of the other project demo2 (test-env's identities share one password).
func demo2(t *testing.T) *cli {
	env := map[string]string{}
	for k, v := range deployment.demo {
		env[k] = v
	}
	env["OS_USERNAME"], env["OS_PROJECT_NAME"] = "demo2", "demo2"
	return newCLI(t, env)
}

// Issue 12 part 2 on make run's deployment: two tenants' instances, each guest on a broker account of its own.
// With A's credentials (read from A's guest configuration, as an attacker inside A would) binding a queue to the
// taskmanager topic or to B's topic, consuming B's queues, publishing to the taskmanager topic, declaring queues
// or touching the control exchange are all refused by RabbitMQ; A's heartbeats still reach the conductor and
// A's guest still answers the control plane; the control plane's password is nowhere in A's configuration; A's
// account goes with A. RabbitMQ's default guest/guest is gone.
func TestGuestBrokerAccounts(t *testing.T) {
	t.Parallel()
	ca, cb := demo(t), demo2(t)
	flavor, version := ca.smallFlavor(), ca.datastoreVersion("mariadb")
	a := ca.createInstance(testenv.UniqueName(t, "broker-a"), "--flavor", flavor, "--size", "1",
		"--datastore", "mariadb", "--datastore-version", version)
	b := cb.createInstance(testenv.UniqueName(t, "broker-b"), "--flavor", flavor, "--size", "1",
		"--datastore", "mariadb", "--datastore-version", version)
	ca.waitActive(a.ID, buildTimeout)
	cb.waitActive(b.ID, buildTimeout)

	shared := confValue(t, "DEFAULT", "transport_url")
	exchange := confValue(t, "DEFAULT", "control_exchange")
	taskmanager := confValue(t, "DEFAULT", "taskmanager_queue")
	if taskmanager == "" {
		taskmanager = "taskmanager"
	}
	su, err := url.Parse(shared)
	if err != nil {
		t.Fatal(err)
	}
	sharedPW, _ := su.User.Password()
	aURL, aText := guestBrokerURL(t, a.ID)
	if strings.Contains(aText, sharedPW) {
		t.Fatal("the control plane's broker password is in the guest's trove-guestagent.conf")
	}
	if !strings.Contains(aURL, "//trove-guest-"+a.ID+":") {
		t.Fatalf("A's transport_url %q is not its own account", aURL)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := rpctest.NewProbe(aURL)
	if err != nil {
		t.Fatalf("A's account does not log in: %v", err)
	}
	defer p.Close()
	qa, qb := "guestagent."+a.ID, "guestagent."+b.ID
	for what, err := range map[string]error{
		"declare a queue of its own":              p.DeclareQueue(testenv.UniqueName(t, "spy")),
		"bind A's queue to the taskmanager topic": p.Bind(qa, exchange, taskmanager),
		"bind A's queue to B's topic":             p.Bind(qa, exchange, qb),
		"bind A's queue to every topic":           p.Bind(qa, exchange, "#"),
		"consume B's queue":                       p.Consume(qb),
		"consume B's server queue":                p.Consume(qb + "." + b.ID),
		"consume the taskmanager's queue":         p.Consume(taskmanager),
		"delete B's queue":                        p.DeleteQueue(qb),
		"publish to the taskmanager topic":        p.Publish(ctx, exchange, taskmanager),
		"publish to B's topic":                    p.Publish(ctx, exchange, qb),
		"declare the control exchange":            p.DeclareExchange(exchange, "topic"),
		"delete the control exchange":             p.DeleteExchange(exchange),
	} {
		if !rpctest.AccessRefused(err) {
			t.Errorf("with A's credentials, %s: want ACCESS_REFUSED, got %v", what, err)
		}
	}

	// A still works: heartbeats reach the conductor, commands reach the guest and its answers come back.
	seen := func() string {
		return catalogQuery(t, "SELECT updated_at FROM trove.service_statuses WHERE instance_id = '"+a.ID+"'")
	}
	before := seen()
	if ok, last := waitFor(time.Minute, time.Second, func() (bool, string) { s := seen(); return s != before, s }); !ok {
		t.Fatalf("no heartbeat of A recorded within a minute (last %s)", last)
	}
	ca.must("database", "db", "create", a.ID, "brokerdb")
	ok, last := waitFor(time.Minute, time.Second, func() (bool, string) {
		names := ca.names("database", "db", "list", a.ID)
		return strings.Contains(strings.Join(names, ","), "brokerdb"), strings.Join(names, ",")
	})
	if !ok {
		t.Fatalf("database created through A's guest not listed: %s", last)
	}

	// A's account goes with A; B's is untouched.
	ca.deleteInstance(a.ID)
	ca.waitGone(a.ID)
	if p2, err := rpctest.NewProbe(aURL); err == nil {
		p2.Close()
		t.Error("the deleted instance's broker account still logs in")
	}
	bURL, _ := guestBrokerURL(t, b.ID)
	if p3, err := rpctest.NewProbe(bURL); err != nil {
		t.Errorf("B's account after A's delete: %v", err)
	} else {
		p3.Close()
	}

	// make run deletes RabbitMQ's default administrator.
	if p4, err := rpctest.NewProbe("rabbit://guest:guest@127.0.0.1:5672/"); err == nil {
		p4.Close()
		t.Error("guest/guest logs in to RabbitMQ")
	}
}
