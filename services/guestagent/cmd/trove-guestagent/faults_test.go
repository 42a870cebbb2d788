package main

import (
	"context"
	"strings"
	"testing"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/pkg/rpc"
	"github.com/trove-go/trove/pkg/testenv"
)

// No silent failure (issue 12): a prepare whose databases or users the guest cannot create creates every other
// one, reports a fault naming each that failed (notify_exc_info) and `failed to spawn`; a create_database cast
// that fails after the instance runs, sent without trove_notification, is reported too.
func TestPrepareReportsWhatItCouldNotCreate(t *testing.T) {
	url := testenv.TransportURL(t)
	bin := buildAgent(t)
	strp := func(s string) *string { return &s }
	pw := "App-Pa55word"
	longUser := strings.Repeat("u", 100)
	cases := []struct {
		f       flavor
		args    guestapi.PrepareArgs
		want    []string // in the fault message
		castBad guestapi.Schema
		castMsg []string
	}{
		{
			// the case: a one-letter database, and a user name longer than MariaDB allows
			f: flavor{manager: "mariadb", envelope: rpc.EnvelopeTrove, login: mariadbLogin},
			args: guestapi.PrepareArgs{
				Databases: []guestapi.Schema{{Name: "d"}, {Name: "app"}},
				Users: []guestapi.User{{Name: longUser, Host: "%", Password: &pw},
					{Name: "appuser", Host: "%", Password: &pw, Databases: []guestapi.Schema{{Name: "app"}}}},
			},
			want:    []string{`database "d" not created`, `user "` + strings.Repeat("u", 64) + `…" not created`},
			castBad: guestapi.Schema{Name: "xx", CharacterSet: strp("klingon")},
			castMsg: []string{`database "xx" not created`, "'klingon' not a valid character set."},
		},
		{
			// a well-formed locale this host does not have: only the server can refuse it
			f: flavor{manager: "postgresql", envelope: rpc.EnvelopeAEAD, login: psqlLogin},
			args: guestapi.PrepareArgs{
				Databases: []guestapi.Schema{{Name: "bad", Collate: strp("de_DE.utf8")}, {Name: "app"}},
				Users:     []guestapi.User{{Name: "appuser", Host: "%", Password: &pw, Databases: []guestapi.Schema{{Name: "app"}}}},
			},
			want:    []string{`database "bad" not created`, "de_DE.utf8"},
			castBad: guestapi.Schema{Name: "xx", CharacterSet: strp("UTF8"), Collate: strp("de_DE.utf8")},
			castMsg: []string{`database "xx" not created`, "de_DE.utf8"},
		},
	}
	for _, c := range cases {
		t.Run(c.f.manager, func(t *testing.T) {
			ctx := context.Background()
			e := setup(t, bin, url, c.f)
			e.ping(t)
			if err := e.gc.Prepare(ctx, e.rc, c.args); err != nil {
				t.Fatal(err)
			}
			msg := waitFor(t, e.cond.excInfo, "notify_exc_info from prepare")
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("fault %q does not contain %q", msg, w)
				}
			}
			if strings.Contains(msg, pw) || strings.Contains(msg, "appuser") || strings.Contains(msg, `"app"`) {
				t.Errorf("fault %q names what was created or a password", msg)
			}
			e.cond.waitStatus(t, "failed to spawn")
			// everything else of the request is there and usable
			if err := c.f.login(e.addr, "appuser", pw, "app"); err != nil {
				t.Fatalf("appuser on app after a partial prepare: %v", err)
			}
			dbs, err := e.gc.ListDatabases(ctx, e.rc, guestapi.ListArgs{})
			if err != nil || len(dbs.Items) != 1 || dbs.Items[0].Name != "app" {
				t.Fatalf("databases %+v %v", dbs, err)
			}
			// the server runs: later heartbeats report it (the build's error task keeps the instance in ERROR)
			e.cond.waitStatus(t, "healthy")

			// after the instance runs: a create_database cast without trove_notification that fails is reported
			if err := e.gc.CreateDatabase(ctx, e.rc, guestapi.CreateDatabaseArgs{Databases: []guestapi.Schema{c.castBad, {Name: "other"}}}); err != nil {
				t.Fatal(err)
			}
			msg = waitFor(t, e.cond.excInfo, "notify_exc_info from create_database")
			for _, w := range c.castMsg {
				if !strings.Contains(msg, w) {
					t.Errorf("fault %q does not contain %q", msg, w)
				}
			}
			dbs, err = e.gc.ListDatabases(ctx, e.rc, guestapi.ListArgs{})
			if err != nil || len(dbs.Items) != 2 || dbs.Items[1].Name != "other" {
				t.Fatalf("the other database of the cast: %+v %v", dbs, err)
			}
			e.cond.waitStatus(t, "healthy")
		})
	}
}
