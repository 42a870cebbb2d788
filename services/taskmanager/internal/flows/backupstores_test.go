package flows

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/backupstore"
	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
	"github.com/trove-go/trove/pkg/taskapi"
	"github.com/trove-go/trove/pkg/testenv"
)

// keystoneLogin is the demo user's token, ids and catalog, as trove-api passes them in an RPC context.
type keystoneLogin struct {
	token, userID, projectID string
	catalog                  json.RawMessage
}

func loginDemo(t *testing.T) keystoneLogin {
	t.Helper()
	body := fmt.Sprintf(`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "demo",
		"domain": {"id": "default"}, "password": %q}}}, "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}}`,
		testenv.Get(t, testenv.DemoPassword))
	resp, err := http.Post(testenv.KeystoneURL(t)+"/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token struct {
			User    struct{ ID string } `json:"user"`
			Project struct{ ID string } `json:"project"`
			Catalog json.RawMessage     `json:"catalog"`
		} `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 201 {
		t.Fatalf("keystone login as demo: %d %v", resp.StatusCode, err)
	}
	return keystoneLogin{token: resp.Header.Get("X-Subject-Token"), userID: out.Token.User.ID, projectID: out.Token.Project.ID, catalog: out.Token.Catalog}
}

// ec2 creates EC2 credentials of the login's user for its project (s3api's keys), removed at cleanup.
func (l keystoneLogin) ec2(t *testing.T) (access, secret string) {
	t.Helper()
	url := testenv.KeystoneURL(t) + "/users/" + l.userID + "/credentials/OS-EC2"
	req, _ := http.NewRequest("POST", url, bytes.NewReader([]byte(`{"tenant_id": "`+l.projectID+`"}`)))
	req.Header.Set("X-Auth-Token", l.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Credential struct{ Access, Secret string } `json:"credential"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 201 {
		t.Fatalf("creating EC2 credentials: %d %v", resp.StatusCode, err)
	}
	t.Cleanup(func() {
		del, _ := http.NewRequest("DELETE", url+"/"+out.Credential.Access, nil)
		del.Header.Set("X-Auth-Token", l.token)
		if r, err := http.DefaultClient.Do(del); err == nil {
			r.Body.Close()
		}
	})
	return out.Credential.Access, out.Credential.Secret
}

// Backups end to end through Swift (the project's object-store endpoint with the user's token, as Trove) and
// through S3 (Swift's s3api with Keystone EC2 keys): full and incremental, the incremental restored into a new
// instance with the rows written by then, both deleted with their objects.
func TestBackupToSwiftAndS3WithRealGuest(t *testing.T) {
	login := loginDemo(t)
	access, secret := login.ec2(t)
	stores := []struct{ name, driver, options string }{
		{"swift", "swift", "storage_strategy = swift\nbackup_swift_container = " + testenv.UniqueName(t, "bk") + "\n"},
		{"s3", "s3", fmt.Sprintf("storage_strategy = s3\n[backup_s3]\nendpoint = %s\nbucket = %s\naccess_key = %s\nsecret_key = %s\n",
			testenv.Get(t, "TROVE_TEST_S3_ENDPOINT"), testenv.UniqueName(t, "bk"), access, secret)},
	}
	guest, conductor := binaries(t)
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			e := newEnv(t, envOpts{guestBinary: guest, storage: st.options})
			e.startConductor(conductor)
			ctx := context.Background()
			urc := rpc.Context{RequestID: "req-flows-store", UserID: login.userID, ProjectID: login.projectID,
				AuthToken: login.token, ServiceCatalog: login.catalog}
			src := e.instance("src-"+st.name, catalog.EnvelopeAEAD)
			defer e.dumpGuestLog(src.ID)
			if err := e.m.CreateInstance(ctx, urc, createArgs(src, "mariadb-local")); err != nil {
				t.Fatalf("create: %v", err)
			}
			src = e.get(src.ID)
			srv, err := e.drv.GetServer(ctx, src.ComputeInstanceID)
			if err != nil {
				t.Fatal(err)
			}
			q := func(addr, stmt string) string { return appSQL(t, "mariadb", addr, 3306, stmt) }
			q(srv.Addresses[0].Addr, "CREATE TABLE t (n INT); INSERT INTO t VALUES (1), (2)")
			var chain []catalog.Backup
			for i := 0; i < 2; i++ {
				row := catalog.Backup{Name: "b", TenantID: src.TenantID, InstanceID: src.ID,
					DatastoreVersionID: src.DatastoreVersionID, StorageDriver: st.driver, BackupType: guestapi.BackupFull}
				if i > 0 {
					row.ParentID, row.BackupType = chain[i-1].ID, guestapi.BackupIncremental
				}
				b, err := e.db.CreateBackup(ctx, row, catalog.TroveDefaults)
				if err != nil {
					t.Fatal(err)
				}
				info := guestapi.BackupInfo{ID: b.ID, InstanceID: src.ID, BackupType: guestapi.BackupFull, Datastore: "mariadb",
					DatastoreVersion: "10.11", StorageDriver: st.driver}
				if i > 0 {
					p := chain[i-1]
					info.BackupType, info.Parent = guestapi.BackupIncremental, &guestapi.BackupParent{ID: p.ID, Location: p.Location, Checksum: p.Checksum}
				}
				if err := e.m.CreateBackup(ctx, urc, taskapi.CreateBackupArgs{BackupInfo: info, InstanceID: src.ID}); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "backup ended", func() bool {
					return e.backupState(b.ID) != status.BackupNew && e.backupState(b.ID) != status.BackupBuilding
				})
				if b, err = e.db.GetBackup(ctx, b.ID); err != nil || b.State != status.BackupCompleted {
					f, _ := e.db.GetFault(ctx, src.ID)
					t.Fatalf("backup %d: %+v %v (fault %q)", i, b, err, f.Message)
				}
				chain = append(chain, b)
				if i == 0 {
					q(srv.Addresses[0].Addr, "INSERT INTO t VALUES (30)")
				}
			}
			want := q(srv.Addresses[0].Addr, "SELECT COUNT(*), SUM(n) FROM t")
			if st.driver == "swift" && !strings.HasPrefix(chain[0].Location, "http://127.0.0.1:8080/v1/AUTH_"+login.projectID+"/") {
				t.Fatalf("swift location %s is not in the project's account", chain[0].Location)
			}

			in := e.instanceOf(e.version, "restored-"+st.name, catalog.EnvelopeAEAD)
			args := createArgs(in, "mariadb-local")
			args.Databases, args.Users, args.RootPassword = nil, nil, nil
			id := chain[1].ID
			args.BackupID = &id
			if err := e.m.CreateInstance(ctx, urc, args); err != nil {
				t.Fatalf("restore: %v (fault %s)", err, e.fault(in.ID))
			}
			rs, err := e.drv.GetServer(ctx, e.get(in.ID).ComputeInstanceID)
			if err != nil {
				t.Fatal(err)
			}
			if got := q(rs.Addresses[0].Addr, "SELECT COUNT(*), SUM(n) FROM t"); got != want {
				t.Fatalf("restored %q, written %q", got, want)
			}

			store, err := e.m.Storage(st.driver, src.TenantID, credsOf(e, urc))
			if err != nil {
				t.Fatal(err)
			}
			for i := len(chain) - 1; i >= 0; i-- {
				if err := e.m.DeleteBackup(ctx, urc, chain[i].ID); err != nil {
					t.Fatalf("delete %d: %v", i, err)
				}
				if rc, err := store.Open(ctx, chain[i].Location); err == nil {
					rc.Close()
					t.Fatalf("object of backup %d still readable after delete", i)
				}
			}
		})
	}
}

// credsOf is what the taskmanager gives a store for the caller.
func credsOf(e *env, rc rpc.Context) backupstore.Credentials {
	u, _ := e.m.swiftURL(rc)
	return backupstore.Credentials{StorageURL: u, Token: rc.AuthToken}
}
