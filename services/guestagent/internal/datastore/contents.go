package datastore

import (
	"context"

	"github.com/trove-go/trove/pkg/guestapi"
)

// ContentReader is a Manager that can describe its contents for restore drills (Contents): the tables of a
// user database, and a checksum of each table's rows.
type ContentReader interface {
	// Tables lists db's tables, sorted (PostgreSQL: schema.table of its non-system schemas).
	Tables(ctx context.Context, db string) ([]string, error)
	// TableChecksums checksums each of db's tables named (as Tables listed them) by table.
	TableChecksums(ctx context.Context, db string, tables []string) (map[string]string, error)
}

// Contents is get_content_manifest's answer: every user database m lists (list_databases: no system schema,
// no database of ignore_dbs) with its tables and, with checksums, each table's checksum.
func Contents(ctx context.Context, m Manager, checksums bool) (guestapi.Contents, error) {
	out := guestapi.Contents{Manifest: guestapi.ContentManifest{}}
	cr, ok := m.(ContentReader)
	if !ok {
		return out, Errorf(KindBadRequest, "this datastore does not describe its contents")
	}
	page, err := m.ListDatabases(ctx, guestapi.ListArgs{})
	if err != nil {
		return out, err
	}
	if checksums {
		out.Checksums = guestapi.ContentChecksums{}
	}
	for _, s := range page.Items {
		tables, err := cr.Tables(ctx, s.Name)
		if err != nil {
			return out, err
		}
		if tables == nil {
			tables = []string{}
		}
		out.Manifest[s.Name] = tables
		if checksums {
			sums, err := cr.TableChecksums(ctx, s.Name, tables)
			if err != nil {
				return out, err
			}
			out.Checksums[s.Name] = sums
		}
	}
	return out, nil
}
