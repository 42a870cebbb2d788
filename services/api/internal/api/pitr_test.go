package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/taskapi"
)

// restorePoint.restore_time (point-in-time recovery): an RFC 3339 time after the backup's creation and not in
// the future, for a PostgreSQL or MySQL/MariaDB backup, reaches create_instance; everything else is a 400 saying why.
func TestRestoreTimeChecks(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.StorageStrategy = "directory" })
	e.sql.MustExec("UPDATE datastore_versions SET active = 1 WHERE manager = 'postgresql'")
	backup := func(ds, version string) string {
		r := e.do("demo", "POST", "/v1.0/"+projDemo+"/instances", map[string]any{"instance": map[string]any{
			"name": "src-" + ds, "flavorRef": "1", "volume": map[string]any{"size": 1}, "datastore": map[string]any{"type": ds, "version": version}}})
		if r.Code != 200 {
			t.Fatalf("create %s: %d %s", ds, r.Code, r.Raw)
		}
		id := r.Body["instance"].(map[string]any)["id"].(string)
		e.markActive(id)
		r = e.do("demo", "POST", "/v1.0/"+projDemo+"/backups", `{"backup": {"name": "b", "instance": "`+id+`"}}`)
		if r.Code != 202 {
			t.Fatalf("backup %s: %d %s", ds, r.Code, r.Raw)
		}
		bid := r.Body["backup"].(map[string]any)["id"].(string)
		e.completeBackup(bid)
		return bid
	}
	pg, my := backup("postgresql", "15"), backup("mysql", "8.0")
	time.Sleep(1100 * time.Millisecond)
	create := func(backup string, at any) response {
		return e.do("demo", "POST", "/v1.0/"+projDemo+"/instances", map[string]any{"instance": map[string]any{
			"name": "restored", "flavorRef": "1", "volume": map[string]any{"size": 1},
			"restorePoint": map[string]any{"backupRef": backup, "restore_time": at},
			"datastore":    map[string]any{"type": "postgresql", "version": "15"}}})
	}
	now := time.Now().UTC()
	for _, c := range []struct {
		backup string
		at     any
		want   string
	}{
		{pg, "yesterday", "is not an RFC 3339 time"},
		{pg, "2026-12-06 03:04:05", "is not an RFC 3339 time"},
		{pg, 1733454245, "restore_time"},
		{pg, "", "restore_time"},
		{pg, now.Add(-time.Hour).Format(time.RFC3339), "is before backup " + pg + " was created"},
		{pg, now.Add(time.Hour).Format(time.RFC3339), "is in the future"},
	} {
		r := create(c.backup, c.at)
		if r.Code != 400 || !strings.Contains(r.faultMessage(), c.want) {
			t.Fatalf("restore_time %v: %d %s, want 400 with %q", c.at, r.Code, r.Raw, c.want)
		}
	}
	r := e.do("demo", "POST", "/v1.0/"+projDemo+"/instances", map[string]any{"instance": map[string]any{
		"name": "restored", "flavorRef": "1", "volume": map[string]any{"size": 1},
		"restorePoint": map[string]any{"backupRef": my, "restore_time": now.Format(time.RFC3339)},
		"datastore":    map[string]any{"type": "mysql", "version": "8.0"}}})
	if r.Code != 200 {
		t.Fatalf("restore_time on a MySQL backup: %d %s", r.Code, r.Raw)
	}
	if a := e.tm.lastCall(t, taskapi.MethodCreateInstance).Args.(taskapi.CreateInstanceArgs); a.RestoreTime == nil || *a.BackupID != my {
		t.Fatalf("create_instance args of the MySQL restore: %+v", a)
	}

	at := now.Format(time.RFC3339)
	if r := create(pg, at); r.Code != 200 {
		t.Fatalf("restore to %s: %d %s", at, r.Code, r.Raw)
	}
	a := e.tm.lastCall(t, taskapi.MethodCreateInstance).Args.(taskapi.CreateInstanceArgs)
	if a.BackupID == nil || *a.BackupID != pg || a.RestoreTime == nil || *a.RestoreTime != at {
		t.Fatalf("create_instance args: backup %v restore_time %v", a.BackupID, a.RestoreTime)
	}
}

func (g *memGuest) GetRecoveryWindow(context.Context, rpc.Context) (guestapi.RecoveryWindow, error) {
	return guestapi.RecoveryWindow{}, g.rec("get_recovery_window")
}

// windowGuest is a guest that has shipped WAL from first to last.
type windowGuest struct {
	*memGuest
	win guestapi.RecoveryWindow
}

func (g *windowGuest) GetRecoveryWindow(context.Context, rpc.Context) (guestapi.RecoveryWindow, error) {
	return g.win, g.rec("get_recovery_window")
}

type windowGuests struct{ g *windowGuest }

func (m windowGuests) Guest(context.Context, string) (Guest, error) { return m.g, nil }

// GET /instances/{id}/recovery_window: from the oldest COMPLETED backup made since the guest began shipping to
// the last shipped WAL; nulls before any such backup; another project's instance 404.
func TestRecoveryWindow(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.StorageStrategy = "directory" })
	g := &windowGuest{memGuest: &memGuest{dbs: map[string]bool{}, users: map[string]guestapi.User{}}}
	e.api.guests = windowGuests{g}
	id := e.createInstance("demo", "src")
	e.markActive(id)
	p := "/v1.0/" + projDemo + "/instances/" + id + "/recovery_window"
	window := func() recoveryWindowView {
		t.Helper()
		r := e.do("demo", "GET", p, nil)
		if r.Code != 200 {
			t.Fatalf("recovery_window: %d %s", r.Code, r.Raw)
		}
		var v struct {
			W recoveryWindowView `json:"recovery_window"`
		}
		if err := json.Unmarshal([]byte(r.Raw), &v); err != nil {
			t.Fatal(err)
		}
		return v.W
	}
	if w := window(); w.Shipping || w.Earliest != nil || w.Latest != nil {
		t.Fatalf("nothing shipped: %+v", w)
	}
	first := time.Now().Add(-time.Minute).UTC()
	g.win = guestapi.RecoveryWindow{Shipping: true, FirstShipped: &first}
	last := time.Now().Add(time.Hour).UTC()
	g.win.LastShipped = &last
	if w := window(); !w.Shipping || w.Earliest != nil {
		t.Fatalf("no backup yet: %+v", w)
	}
	var bids []string
	for i := 0; i < 2; i++ {
		r := e.do("demo", "POST", "/v1.0/"+projDemo+"/backups", `{"backup": {"name": "b", "instance": "`+id+`"}}`)
		if r.Code != 202 {
			t.Fatalf("backup: %d %s", r.Code, r.Raw)
		}
		bids = append(bids, r.Body["backup"].(map[string]any)["id"].(string))
		e.completeBackup(bids[i])
		time.Sleep(1100 * time.Millisecond)
	}
	w := window()
	if w.BackupID == nil || *w.BackupID != bids[0] || w.Earliest == nil || w.Latest == nil || *w.Latest != last.Format(time.RFC3339) {
		t.Fatalf("window %+v, want from backup %s to %s", w, bids[0], last.Format(time.RFC3339))
	}
	if r := e.do("demo2", "GET", "/v1.0/"+projDemo2+"/instances/"+id+"/recovery_window", nil); r.Code != 404 {
		t.Fatalf("another project's instance: %d %s", r.Code, r.Raw)
	}
}
