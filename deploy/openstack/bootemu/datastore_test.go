package main

import (
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/sirupsen/logrus"
	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/keyring"
	"github.com/trove-go/trove/pkg/rpc"
)

// TestIntegrationDatastoreGuests goes one step further than the lifecycle test: the guest the emulator starts
// for a server is prepared over RPC (as the taskmanager would, on the control plane's RabbitMQ, with an
// instance key) and runs its database server from server_bin_dir on the volume's directory, reachable on the
// server's port address; deleting the server stops the database server too. Heartbeats go to a queue of the
// test's own, not to the conductor.
func TestIntegrationDatastoreGuests(t *testing.T) {
	b := openBed(t)
	for _, ds := range []struct{ manager, image string }{
		{"mariadb", b.env["TESTBED_IMAGE_MARIADB"]},
		{"postgresql", b.env["TESTBED_IMAGE_POSTGRESQL"]},
	} {
		t.Run(ds.manager, func(t *testing.T) { testDatastoreGuest(t, b, ds.manager, ds.image) })
	}
}

func testDatastoreGuest(t *testing.T, b *bed, manager, image string) {
	ctx, cloud, agentConf, log := b.ctx, b.cloud, b.agentConf, b.log
	agentFile, err := config.LoadFiles(guestAgentConf)
	if err != nil {
		t.Fatal(err)
	}
	root := b.root(t, "bootemu-db-")
	e, _ := b.emulator(t, root)
	vol := b.volume(t, "bootemu-db")

	instanceID := fmt.Sprintf("bootemu-db-%d", time.Now().UnixNano())
	key, err := keyring.NewInstanceKey()
	if err != nil {
		t.Fatal(err)
	}
	condTopic := "bootemu-test-conductor-" + instanceID
	files := []testFile{
		{Path: "/etc/trove/conf.d/guest_info.conf", Encoding: "b64", Permissions: "0600", Owner: "trove:trove",
			Content: b64(fmt.Sprintf("[DEFAULT]\nguest_id = %s\ndatastore_manager = %s\ndatastore_version = it\n"+
				"tenant_id = bootemu-it\ninstance_rpc_encr_key = %s\n", instanceID, manager, key))},
		{Path: "/etc/trove/conf.d/trove-guestagent.conf", Encoding: "b64", Permissions: "0600", Owner: "trove:trove",
			Content: b64(string(agentConf))},
		{Path: "/etc/trove/conf.d/trove-test.conf", Permissions: "0600", Content: "[DEFAULT]\nconductor_queue = " + condTopic + "\n"},
	}
	srv := b.bootImage(t, image, instanceID, root, cloudConfigDoc(t, files), vol.ID, map[string]string{"trove_instance_id": instanceID})
	m := itMachine{t: t, root: root, id: srv.ID}
	waitStatus(t, ctx, cloud.compute, srv.ID, "ACTIVE")
	eventually(t, 30*time.Second, "the guest agent to run", func() bool { return m.guest().PID > 0 }, m.guestLog)
	rec := func() Record {
		e.mu.Lock()
		defer e.mu.Unlock()
		return *e.records[srv.ID]
	}()

	tr, err := rpc.Dial(ctx, rpc.ConfigFrom(agentFile), logrus.NewEntry(log))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	gc := guestapi.New(tr.Client(guestapi.Target(instanceID), rpc.TroveCodec(key)))
	gc.Low = 5 * time.Second
	rc := rpc.Context{RequestID: "req-" + instanceID}
	eventually(t, 60*time.Second, "rpc_ping", func() bool {
		ok, err := gc.RPCPing(ctx, rc)
		return err == nil && ok
	}, m.guestLog)
	pw := "App-Pa55word"
	start := time.Now()
	if err := gc.Prepare(ctx, rc, guestapi.PrepareArgs{MemoryMB: 512, Databases: []guestapi.Schema{{Name: "app"}},
		Users: []guestapi.User{{Name: "appuser", Host: "%", Password: &pw, Databases: []guestapi.Schema{{Name: "app"}}}}}); err != nil {
		t.Fatal(err)
	}
	port := map[string]string{"mariadb": "3306", "postgresql": "5432"}[manager]
	hostPort := net.JoinHostPort(rec.Addr, port)
	eventually(t, 120*time.Second, manager+" on "+hostPort, func() bool {
		c, err := net.DialTimeout("tcp", hostPort, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, m.guestLog)
	eventually(t, 60*time.Second, "database app listed by the guest", func() bool {
		dbs, err := gc.ListDatabases(ctx, rc, guestapi.ListArgs{})
		return err == nil && len(dbs.Items) == 1 && dbs.Items[0].Name == "app"
	}, m.guestLog)
	t.Logf("prepared: %s listens on %s, database app listed, %s after prepare", manager, hostPort, time.Since(start).Round(time.Millisecond))
	if manager == "mariadb" {
		var version string
		db, err := sql.Open("mysql", fmt.Sprintf("appuser:%s@tcp(%s)/app?timeout=2s", pw, hostPort))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil || !strings.Contains(strings.ToLower(version), "mariadb") {
			t.Errorf("appuser's SELECT VERSION(): %q %v", version, err)
		}
	}
	dataDir := filepath.Join(root, "volumes", vol.ID)
	if marked := machineProcs(map[int]bool{}, []string{dataDir + "/"}); len(marked) == 0 {
		t.Errorf("no process names the volume's directory %s: the database server does not run on the data disk", dataDir)
	}

	if err := servers.Delete(ctx, cloud.compute, srv.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the machine and its database server to go", func() bool {
		_, err := os.Stat(m.dir())
		return errors.Is(err, os.ErrNotExist) && len(machineProcs(map[int]bool{}, []string{dataDir + "/", m.dir() + "/"})) == 0
	}, nil)
}
