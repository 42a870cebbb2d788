package conductor

import (
	"context"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/conductorapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/status"
)

// update_backup writes the guest's progress into the backup row, only for the sending instance's own
// backups, never with a location naming another object, and never older than what was applied.
func TestUpdateBackup(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	mine, other := e.instance(t, keyA, ""), e.instance(t, keyB, "")
	backup := func(inst string) string {
		b, err := e.db.CreateBackup(ctx, catalog.Backup{Name: "b", TenantID: "tenant", InstanceID: inst}, catalog.TroveDefaults)
		if err != nil {
			t.Fatal(err)
		}
		return b.ID
	}
	b1, b2 := backup(mine), backup(other)
	str := func(s string) *string { return &s }
	size := 0.25
	now := time.Now()
	cases := []struct {
		name    string
		a       conductorapi.UpdateBackupArgs
		wantErr bool
	}{
		{"building", conductorapi.UpdateBackupArgs{InstanceID: mine, BackupID: b1, State: str(status.BackupBuilding), Sent: conductorapi.Sent(now)}, false},
		{"another instance's backup", conductorapi.UpdateBackupArgs{InstanceID: mine, BackupID: b2, State: str(status.BackupFailed), Sent: conductorapi.Sent(now.Add(time.Second))}, true},
		{"a location of another object", conductorapi.UpdateBackupArgs{InstanceID: mine, BackupID: b1, Location: str("file:///var/lib/trove/backups/t/" + b2 + ".xbstream.gz"), Sent: conductorapi.Sent(now.Add(2 * time.Second))}, true},
		{"completed", conductorapi.UpdateBackupArgs{InstanceID: mine, BackupID: b1, State: str(status.BackupCompleted), Size: &size,
			Checksum: str("0123456789abcdef0123456789abcdef"), Location: str("file:///var/lib/trove/backups/t/" + b1 + ".xbstream.gz"),
			BackupType: str("full"), ContentManifest: str(`{"app":["t2","t1"],"empty":[]}`), Sent: conductorapi.Sent(now.Add(3 * time.Second))}, false},
		{"a manifest that is none: dropped, the rest applied", conductorapi.UpdateBackupArgs{InstanceID: mine, BackupID: b1,
			ContentManifest: str(`["t"]`), Size: &size, Sent: conductorapi.Sent(now.Add(4 * time.Second))}, false},
		{"older than applied", conductorapi.UpdateBackupArgs{InstanceID: mine, BackupID: b1, State: str(status.BackupFailed), Sent: conductorapi.Sent(now.Add(time.Second))}, false},
	}
	for _, c := range cases {
		_, err := e.c.updateBackup(ctx, rpc.Context{SenderInstanceID: mine}, c.a)
		if (err != nil) != c.wantErr {
			t.Fatalf("%s: error %v, want error %v", c.name, err, c.wantErr)
		}
	}
	got, err := e.db.GetBackup(ctx, b1)
	// the content manifest (ours) is stored re-encoded; a Python guest's update_backup has none
	if err != nil {
		t.Fatal(err)
	}
	if got.State != status.BackupCompleted || got.Size != 0.25 || got.Checksum != "0123456789abcdef0123456789abcdef" ||
		got.Location != "file:///var/lib/trove/backups/t/"+b1+".xbstream.gz" || got.BackupType != "full" ||
		got.ContentManifest != `{"app":["t2","t1"],"empty":[]}` {
		t.Fatalf("backup row: %+v", got)
	}
	if theirs, _ := e.db.GetBackup(ctx, b2); theirs.State != status.BackupNew {
		t.Fatalf("another instance's backup changed: %+v", theirs)
	}
	// A sender that is not the instance named is refused before anything is read.
	if _, err := e.c.updateBackup(ctx, rpc.Context{SenderInstanceID: other}, conductorapi.UpdateBackupArgs{InstanceID: mine, BackupID: b1, State: str(status.BackupFailed)}); err == nil {
		t.Fatal("update_backup about another instance accepted")
	}
}
