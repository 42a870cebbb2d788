package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/testenv"
)

// TestGuestAppliesMessagesInOrder is the acceptance suite's finding: casts that change the instance followed at
// once by a list call must be seen by that call. Each round casts create_database X, create_user U on X,
// delete_database and delete_user of the previous round, then immediately calls list_users and list_databases.
func TestGuestAppliesMessagesInOrder(t *testing.T) {
	const rounds = 200
	ctx := context.Background()
	e := setup(t, buildAgent(t), testenv.TransportURL(t),
		flavor{manager: "mariadb", envelope: rpc.EnvelopeTrove, login: mariadbLogin, root: "root"})
	e.ping(t)
	gc, rc := e.gc, e.rc

	// during prepare (a write) a list call waits for it and sees its database, while rpc_ping and
	// get_filesystem_stats (unordered) answer at once
	if err := gc.Prepare(ctx, rc, guestapi.PrepareArgs{MemoryMB: 512, Databases: []guestapi.Schema{{Name: "seed"}}}); err != nil {
		t.Fatal(err)
	}
	listed := make(chan error, 1)
	// It waits for the whole prepare, which takes longer than the low timeout on a loaded machine.
	patient := *gc
	patient.Low = 2 * time.Minute
	go func() {
		dbs, err := patient.ListDatabases(ctx, rc, guestapi.ListArgs{})
		if err == nil && (len(dbs.Items) != 1 || dbs.Items[0].Name != "seed") {
			err = fmt.Errorf("databases %+v, want [seed]", dbs.Items)
		}
		listed <- err
	}()
	if ok, err := gc.RPCPing(ctx, rc); err != nil || !ok {
		t.Fatalf("rpc_ping during prepare: %v %v", ok, err)
	}
	if _, err := gc.GetFilesystemStats(ctx, rc); err != nil {
		t.Fatalf("get_filesystem_stats during prepare: %v", err)
	}
	if len(listed) != 0 {
		t.Fatal("list_databases answered before rpc_ping and get_filesystem_stats: did they wait for prepare?")
	}
	if err := <-listed; err != nil {
		t.Fatalf("list_databases sent during prepare: %v", err)
	}
	e.cond.waitStatus(t, "healthy")
	pw := "Order-Pa55word"
	var stale []string
	for i := range rounds {
		db, user := fmt.Sprintf("ord%d", i), fmt.Sprintf("ordu%d", i)
		prevDB, prevUser := fmt.Sprintf("ord%d", i-1), fmt.Sprintf("ordu%d", i-1)
		casts := []func() error{
			func() error {
				return gc.CreateDatabase(ctx, rc, guestapi.CreateDatabaseArgs{Databases: []guestapi.Schema{{Name: db}}})
			},
			func() error {
				return gc.CreateUser(ctx, rc, guestapi.CreateUserArgs{Users: []guestapi.User{
					{Name: user, Host: "%", Password: &pw, Databases: []guestapi.Schema{{Name: db}}}}})
			},
		}
		if i > 0 {
			casts = append(casts,
				func() error {
					return gc.DeleteDatabase(ctx, rc, guestapi.DeleteDatabaseArgs{Database: guestapi.Schema{Name: prevDB}})
				},
				func() error {
					return gc.DeleteUser(ctx, rc, guestapi.DeleteUserArgs{User: guestapi.User{Name: prevUser, Host: "%"}})
				})
		}
		for _, cast := range casts {
			if err := cast(); err != nil {
				t.Fatalf("round %d: cast: %v", i, err)
			}
		}
		users, err := gc.ListUsers(ctx, rc, guestapi.ListArgs{})
		if err != nil {
			t.Fatalf("round %d: list_users: %v", i, err)
		}
		dbs, err := gc.ListDatabases(ctx, rc, guestapi.ListArgs{})
		if err != nil {
			t.Fatalf("round %d: list_databases: %v", i, err)
		}
		userDBs := map[string][]string{}
		for _, u := range users.Items {
			for _, d := range u.Databases {
				userDBs[u.Name] = append(userDBs[u.Name], d.Name)
			}
			if _, ok := userDBs[u.Name]; !ok {
				userDBs[u.Name] = nil
			}
		}
		haveDB := map[string]bool{}
		for _, d := range dbs.Items {
			haveDB[d.Name] = true
		}
		switch got, ok := userDBs[user]; {
		case !ok:
			stale = append(stale, fmt.Sprintf("round %d: list_users misses %s", i, user))
		case fmt.Sprint(got) != fmt.Sprint([]string{db}):
			stale = append(stale, fmt.Sprintf("round %d: %s has databases %v, want [%s]", i, user, got, db))
		}
		if !haveDB[db] {
			stale = append(stale, fmt.Sprintf("round %d: list_databases misses %s", i, db))
		}
		if i > 0 {
			if _, ok := userDBs[prevUser]; ok {
				stale = append(stale, fmt.Sprintf("round %d: deleted user %s still listed", i, prevUser))
			}
			if haveDB[prevDB] {
				stale = append(stale, fmt.Sprintf("round %d: deleted database %s still listed", i, prevDB))
			}
		}
	}
	if len(stale) > 0 {
		t.Fatalf("%d stale reads in %d rounds, first: %v", len(stale), rounds, stale[:min(len(stale), 10)])
	}
	t.Logf("%d rounds of casts followed by list calls: no stale read", rounds)
}
