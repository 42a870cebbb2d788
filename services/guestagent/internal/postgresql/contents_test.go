package postgresql

import (
	"context"
	"reflect"
	"testing"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// The content manifest (restore drills) on a real PostgreSQL: user databases only (not postgres, os_admin or
// the templates), schema-qualified tables of the non-system schemas; a table's checksum follows its rows
// whatever their physical order.
func TestPostgreSQLContents(t *testing.T) {
	ctx := context.Background()
	m, _ := start(t)
	if err := m.CreateDatabases(ctx, []guestapi.Schema{{Name: "app"}, {Name: "empty"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.query(ctx, "app", `CREATE SCHEMA "s p"; CREATE TABLE "s p"."T" (i int, s text); CREATE TABLE public.a (i int);
		CREATE VIEW public.v AS SELECT i FROM public.a; INSERT INTO "s p"."T" VALUES (1, 'x'), (2, NULL)`); err != nil {
		t.Fatal(err)
	}
	c, err := datastore.Contents(ctx, m, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := (guestapi.ContentManifest{"app": {"public.a", "s p.T"}, "empty": {}}); !reflect.DeepEqual(c.Manifest, want) {
		t.Fatalf("manifest %v, want %v", c.Manifest, want)
	}
	if sums := c.Checksums["app"]; len(sums) != 2 || len(sums["s p.T"]) != 32 || sums["s p.T"] == sums["public.a"] {
		t.Fatalf("checksums %v", c.Checksums)
	}
	digest := c.Checksums.Digest()
	sumAfter := func(q string) string {
		t.Helper()
		if _, err := m.query(ctx, "app", q); err != nil {
			t.Fatal(err)
		}
		c, err := datastore.Contents(ctx, m, true)
		if err != nil {
			t.Fatal(err)
		}
		return c.Checksums.Digest()
	}
	if d := sumAfter(`UPDATE "s p"."T" SET s = 'z' WHERE i = 2`); d == digest {
		t.Fatal("a changed row left the digest as it was")
	}
	// the same rows again, now stored in another order
	if d := sumAfter(`DELETE FROM "s p"."T"; INSERT INTO "s p"."T" VALUES (2, NULL), (1, 'x')`); d != digest {
		t.Fatalf("the same rows again: digest %s, was %s", d, digest)
	}
}
