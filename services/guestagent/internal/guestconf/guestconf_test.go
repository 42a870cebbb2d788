package guestconf

import (
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/config"
)

func TestLoad(t *testing.T) {
	f, err := config.Parse(`[DEFAULT]
guest_id = 5f1c3a2e-8d4b-4c1e-9a7f-0b2c3d4e5f60
datastore_manager = postgresql
datastore_version = 15
tenant_id = p1
instance_rpc_encr_key = Q7dX2mLp9RtZ4vKc8NwB1sYh6JfE3gUa
agent_heartbeat_time = 2.5
[local]
bind_host = 127.77.0.9
data_dir = /srv/i1
volume_size_gb = 2
[postgresql]
ignore_users = os_admin,postgres,repl
guest_log_exposed_logs = general,guest
`)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 5432 || c.HeartbeatPeriod != 2500*time.Millisecond || c.VolumeSizeGB != 2 || c.Envelope != "trove" ||
		len(c.IgnoreUsers) != 3 || c.IgnoreDBs[1] != "postgres" || c.ConductorTopic != "trove-conductor" ||
		c.GuestLogContainer != "database_logs" || c.GuestLogLimit != 1000000 || c.GuestLogLongQueryMS != 0 ||
		strings.Join(c.GuestLogExposed, ",") != "general,guest" {
		t.Fatalf("%+v", c)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct{ text, want string }{
		{"[DEFAULT]\ndatastore_manager=mysql\n[local]\ndata_dir=/x\n", "guest_id"},
		{"[DEFAULT]\nguest_id=i\ndatastore_manager=redis\n[local]\ndata_dir=/x\n", "redis"},
		{"[DEFAULT]\nguest_id=i\ndatastore_manager=mysql\n[local]\ndata_dir=rel\n", "data_dir"},
		{"[DEFAULT]\nguest_id=i\ndatastore_manager=mysql\n[local]\ndata_dir=/x\nbind_host=10.0.0.1\n", "loopback"},
		{"[DEFAULT]\nguest_id=i\ndatastore_manager=mysql\ninstance_rpc_envelope=rot13\n[local]\ndata_dir=/x\n", "envelope"},
	}
	for _, c := range cases {
		f, err := config.Parse(c.text)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Load(f); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want mention of %q", c.text, err, c.want)
		}
	}
}
