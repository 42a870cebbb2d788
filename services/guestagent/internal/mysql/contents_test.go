package mysql

import (
	"context"
	"reflect"
	"testing"

	"github.com/trove-go/trove/pkg/guestapi"
	"github.com/trove-go/trove/services/guestagent/internal/datastore"
)

// The content manifest (restore drills) on a real MariaDB: user databases only, base tables only; a table's
// checksum follows its rows and comes back when they do.
func TestMariaDBContents(t *testing.T) {
	ctx := context.Background()
	m, _ := start(t)
	if err := m.CreateDatabases(ctx, []guestapi.Schema{{Name: "app"}, {Name: "empty"}}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"CREATE TABLE app.b (i INT PRIMARY KEY, s TEXT)", "CREATE TABLE app.a (i INT)",
		"CREATE VIEW app.v AS SELECT i FROM app.a", "INSERT INTO app.b VALUES (1, 'x'), (2, 'y')"} {
		if err := m.exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	c, err := datastore.Contents(ctx, m, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := (guestapi.ContentManifest{"app": {"a", "b"}, "empty": {}}); !reflect.DeepEqual(c.Manifest, want) {
		t.Fatalf("manifest %v, want %v", c.Manifest, want)
	}
	if len(c.Checksums["app"]) != 2 || c.Checksums["app"]["b"] == "" || c.Checksums["app"]["b"] == c.Checksums["app"]["a"] {
		t.Fatalf("checksums %v", c.Checksums)
	}
	digest := c.Checksums.Digest()
	sumAfter := func(q string) string {
		t.Helper()
		if err := m.exec(ctx, q); err != nil {
			t.Fatal(err)
		}
		c, err := datastore.Contents(ctx, m, true)
		if err != nil {
			t.Fatal(err)
		}
		return c.Checksums.Digest()
	}
	if d := sumAfter("UPDATE app.b SET s = 'z' WHERE i = 2"); d == digest {
		t.Fatal("a changed row left the digest as it was")
	}
	if d := sumAfter("UPDATE app.b SET s = 'y' WHERE i = 2"); d != digest {
		t.Fatalf("the same rows again: digest %s, was %s", d, digest)
	}
	if sums, err := m.TableChecksums(ctx, "app", []string{"gone"}); err == nil && len(sums) != 0 {
		t.Fatalf("a missing table has a checksum: %v", sums)
	}
}
