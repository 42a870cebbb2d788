package main

import (
	"database/sql"
	"errors"
	"fmt"
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

// TestIntegrationMariaDBGuest goes one step further than the lifecycle test: the guest the emulator starts for
// a server is prepared over RPC (as the taskmanager would, on the control plane's RabbitMQ, with an instance
// key) and runs MariaDB from server_bin_dir on the volume's directory, reachable on the server's port address;
// deleting the server stops MariaDB too. Its heartbeats go to a queue of the test's own, not to the conductor.
func TestIntegrationMariaDBGuest(t *testing.T) {
	b := openBed(t)
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
			Content: b64(fmt.Sprintf("[DEFAULT]\nguest_id = %s\ndatastore_manager = mariadb\ndatastore_version = it\n"+
				"tenant_id = bootemu-it\ninstance_rpc_encr_key = %s\n", instanceID, key))},
		{Path: "/etc/trove/conf.d/trove-guestagent.conf", Encoding: "b64", Permissions: "0600", Owner: "trove:trove",
			Content: b64(string(agentConf))},
		{Path: "/etc/trove/conf.d/trove-test.conf", Permissions: "0600", Content: "[DEFAULT]\nconductor_queue = " + condTopic + "\n"},
	}
	srv := b.boot(t, instanceID, root, cloudConfigDoc(t, files), vol.ID, map[string]string{"trove_instance_id": instanceID})
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
	dsn := fmt.Sprintf("appuser:%s@tcp(%s:3306)/app?timeout=2s", pw, rec.Addr)
	var version string
	eventually(t, 120*time.Second, "MariaDB on "+rec.Addr+":3306", func() bool {
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			return false
		}
		defer db.Close()
		return db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version) == nil
	}, m.guestLog)
	t.Logf("prepared: %s answers as appuser on %s:3306 %s after prepare", version, rec.Addr, time.Since(start).Round(time.Millisecond))
	if !strings.Contains(strings.ToLower(version), "mariadb") {
		t.Errorf("version %q is not MariaDB", version)
	}
	dataDir := filepath.Join(root, "volumes", vol.ID)
	if marked := machineProcs(map[int]bool{}, []string{dataDir + "/"}); len(marked) == 0 {
		t.Errorf("no process names the volume's directory %s: MariaDB does not run on the data disk", dataDir)
	}

	if err := servers.Delete(ctx, cloud.compute, srv.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the machine and its MariaDB to go", func() bool {
		_, err := os.Stat(m.dir())
		return errors.Is(err, os.ErrNotExist) && len(machineProcs(map[int]bool{}, []string{dataDir + "/", m.dir() + "/"})) == 0
	}, nil)
}
