package api

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/pkg/compute"
	"github.com/trove-go/trove/pkg/compute/local"
)

// newLocalServers is the real local compute driver on a temporary state dir, with a stand-in guest agent (a
// sleeping shell) so servers can be created without a database server.
func newLocalServers(t *testing.T) *local.Driver {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "fake-guest")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexec sleep 300\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return local.New(local.Config{StateDir: filepath.Join(dir, "state"), AddressPool: netip.MustParsePrefix("127.78.0.0/24"),
		GuestAgentBinary: bin, Images: map[string]string{"img": dir}, Flavors: local.DefaultFlavors,
		StopTimeout: 2 * time.Second}, logrus.New())
}

// Lists carry ip / addresses (Trove's list view) for instances whose server has an address, from one bulk
// driver call; an instance without a server or address has neither key.
func TestListAddresses(t *testing.T) {
	e := newEnv(t)
	drv := newLocalServers(t)
	ctx := context.Background()
	withAddr := e.createInstance("demo", "with-addr")
	noServer := e.createInstance("demo", "no-server") // server recorded in the catalog, missing in the driver
	building := e.createInstance("demo", "building")  // no compute id yet
	e.markActive(withAddr)
	e.markActive(noServer)
	srvID := "server-" + withAddr[:8]
	if _, err := drv.CreateServer(ctx, compute.ServerSpec{InstanceID: srvID, Name: "with-addr", ImageID: "img"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = drv.DeleteServer(ctx, srvID) })

	wantIP := []any{"127.78.0.1"}
	wantAddrs := []any{map[string]any{"address": "127.78.0.1", "type": "private", "network": "local"}}
	pd, pa := "/v1.0/"+projDemo+"/instances", "/v1.0/"+projAdmin+"/mgmt/instances?project_id="+projDemo
	cases := []struct {
		name, token, path string
		servers           Servers
		addressed         map[string]bool // instance id → expects ip / addresses
	}{
		{"list", "demo", pd, drv, map[string]bool{withAddr: true}},
		{"detail", "demo", pd + "/detail", drv, map[string]bool{withAddr: true}},
		{"mgmt list", "admin", pa, drv, map[string]bool{withAddr: true}},
		{"no compute driver", "demo", pd, nil, nil},
		{"bulk lookup fails", "demo", pd + "/detail", fakeServers{srvID: {Addresses: []compute.Address{{Addr: "127.0.0.9", Version: 4}}}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.api.servers = tc.servers
			r := e.do(tc.token, "GET", tc.path, nil)
			items, _ := r.Body["instances"].([]any)
			if r.Code != 200 || len(items) != 3 {
				t.Fatalf("%d %s", r.Code, r.Raw)
			}
			seen := map[string]bool{}
			for _, it := range items {
				m := it.(map[string]any)
				id := m["id"].(string)
				seen[id] = true
				ip, hasIP := m["ip"]
				addrs, hasAddrs := m["addresses"]
				if !tc.addressed[id] {
					if hasIP || hasAddrs {
						t.Errorf("%s: unexpected addresses %v %v", id, ip, addrs)
					}
					continue
				}
				if !reflect.DeepEqual(ip, wantIP) || !reflect.DeepEqual(addrs, wantAddrs) {
					t.Errorf("%s: ip %v addresses %v, want %v %v", id, ip, addrs, wantIP, wantAddrs)
				}
			}
			if !seen[withAddr] || !seen[noServer] || !seen[building] {
				t.Errorf("instances %v", seen)
			}
		})
	}
	// show (one GetServer) agrees with the list.
	e.api.servers = drv
	r := e.do("demo", "GET", pd+"/"+withAddr, nil)
	inst, _ := r.Body["instance"].(map[string]any)
	if !reflect.DeepEqual(inst["ip"], wantIP) || !reflect.DeepEqual(inst["addresses"], wantAddrs) {
		t.Errorf("show: %s", r.Raw)
	}
	// The list follows the driver's state: after the server is deleted, no address.
	if err := drv.DeleteServer(ctx, srvID); err != nil {
		t.Fatal(err)
	}
	if r := e.do("demo", "GET", pd, nil); r.Code != 200 || strings.Contains(r.Raw, `"ip"`) {
		t.Errorf("list after server delete: %d %s", r.Code, r.Raw)
	}
}
