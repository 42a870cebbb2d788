package catalog_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/testenv"
)

// newDB opens a fresh, migrated catalog of its own for one test.
func newDB(t testing.TB) *catalog.DB {
	t.Helper()
	d := openEmpty(t)
	if err := d.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return d
}

func openEmpty(t testing.TB) *catalog.DB {
	t.Helper()
	d, err := catalog.Open(testenv.NewDatabase(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// counts returns the number of rows of each table, to assert which rows a call changed.
func counts(t testing.TB, d *catalog.DB, tables ...string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, tb := range tables {
		var n int
		if err := d.Sqlx().Get(&n, "SELECT COUNT(*) FROM "+tb); err != nil {
			t.Fatalf("counting %s: %v", tb, err)
		}
		out[tb] = n
	}
	return out
}

func assertKind(t testing.TB, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v (%T), want kind %v", err, err, kind)
	}
}

// clock is a controllable DB.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func withClock(d *catalog.DB) *clock {
	c := &clock{t: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)}
	d.Now = c.now
	return c
}

var ctx = context.Background()

func TestOpenConfig(t *testing.T) {
	t.Parallel()
	f, err := config.Parse("[database]\nconnection = " + testenv.NewDatabase(t) + "\nmax_pool_size = 2\nmax_overflow = 1\n")
	if err != nil {
		t.Fatal(err)
	}
	d, err := catalog.OpenConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := d.Sqlx().Stats().MaxOpenConnections; got != 3 {
		t.Fatalf("max open connections %d, want 3", got)
	}
	bad, _ := config.Parse("[database]\nconnection = " + testenv.NewDatabase(t) + "\nmax_pool_size = many\n")
	if _, err := catalog.OpenConfig(bad); err == nil || !strings.Contains(err.Error(), "max_pool_size") {
		t.Fatalf("bad option: %v", err)
	}
}
