package rpc

import (
	"fmt"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/config"
)

// testConfig is ConfigFrom of an empty file with the given URL and exchange (rpctest.Config for tests outside
// this package).
func testConfig(transportURL, controlExchange string) Config {
	f, _ := config.Parse("")
	c := ConfigFrom(f)
	c.TransportURL, c.ControlExchange = transportURL, controlExchange
	return c
}

func TestConfigFrom(t *testing.T) {
	f, err := config.Parse("[DEFAULT]\ntransport_url = rabbit://u:p@h1:5673,u:p@h2/trove\ncontrol_exchange = trove\n" +
		"[oslo_messaging_rabbit]\namqp_durable_queues = true\nrabbit_transient_queues_ttl = 60\n")
	if err != nil {
		t.Fatal(err)
	}
	c := ConfigFrom(f)
	if c.ControlExchange != "trove" || !c.DurableQueues || c.TransientTTL != time.Minute || c.ResponseTimeout != time.Minute ||
		c.RetryInterval != time.Second || c.IntervalMax != 30*time.Second || !c.MandatoryReplies {
		t.Fatalf("config %+v", c)
	}
	empty, _ := config.Parse("")
	if c := ConfigFrom(empty); c.ControlExchange != "openstack" || c.TransportURL != "rabbit://" {
		t.Fatalf("defaults %+v", c)
	}
}

func TestAMQPURIs(t *testing.T) {
	cases := []struct{ in, want string }{
		{"rabbit://trove:secret@127.0.0.1:5672/", "[amqp://trove:secret@127.0.0.1:5672/%2F]"},
		{"rabbit://u:p@h1:5673,u:p@h2/vh", "[amqp://u:p@h1:5673/vh amqp://u:p@h2/vh]"},
		{"rabbit://", "[amqp://guest:guest@localhost:5672/%2F]"},
		{"rabbit+ssl://u:p@h:5671/", "[amqps://u:p@h:5671/%2F]"},
	}
	for _, c := range cases {
		got, err := amqpURIs(c.in)
		if err != nil || fmt.Sprint(got) != c.want {
			t.Errorf("amqpURIs(%q) = %v, %v; want %s", c.in, got, err, c.want)
		}
	}
	if _, err := amqpURIs("kafka://h"); err == nil {
		t.Error("kafka:// accepted")
	}
}

func TestVersionCompatible(t *testing.T) {
	cases := []struct {
		endpoint, requested string
		want                bool
	}{
		{"1.3", "1.0", true}, {"1.3", "1.3", true}, {"1.3", "1.4", false}, {"1.3", "2.0", false},
		{"1.0", "1", true}, {"1.0", "x", false}, {"2.1", "1.0", false},
	}
	for _, c := range cases {
		if got := versionCompatible(c.endpoint, c.requested); got != c.want {
			t.Errorf("versionCompatible(%s, %s) = %v", c.endpoint, c.requested, got)
		}
	}
}
