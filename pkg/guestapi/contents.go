package guestapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sort"

	"github.com/trove-go/trove/pkg/rpc"
)

// MethodGetContentManifest is get_content_manifest (ours, call): the user databases and their tables, and —
// when asked — a checksum of each table's rows. Restore drills ask a restored instance for it; a backup's
// manifest is taken by the guest when the backup completes and travels with update_backup.
const MethodGetContentManifest = "get_content_manifest"

// ContentManifest is a database → its tables (sorted; PostgreSQL: schema.table of the non-system schemas) of
// every user database (those list_databases shows). It names no rows: tables are stable under ordinary writes,
// so one taken when a backup completes describes what the backup holds.
type ContentManifest map[string][]string

// Missing lists what m names that got lacks, as "db" (the whole database) or "db.table", sorted.
func (m ContentManifest) Missing(got ContentManifest) []string {
	var out []string
	for db, tables := range m {
		have, ok := got[db]
		if !ok {
			out = append(out, db)
			continue
		}
		in := make(map[string]bool, len(have))
		for _, t := range have {
			in[t] = true
		}
		for _, t := range tables {
			if !in[t] {
				out = append(out, db+"."+t)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Tables is the number of tables m names.
func (m ContentManifest) Tables() int {
	n := 0
	for _, t := range m {
		n += len(t)
	}
	return n
}

// ContentChecksums is a database → table → hex checksum of the table's rows (MariaDB: CHECKSUM TABLE;
// PostgreSQL: the row count and two 64-bit sums of the rows' md5s, hashed with md5, independent of row order).
type ContentChecksums map[string]map[string]string

// Digest is one hex SHA-256 over every database, table and checksum in name order: the contents' checksum.
func (c ContentChecksums) Digest() string {
	h := sha256.New()
	dbs := make([]string, 0, len(c))
	for db := range c {
		dbs = append(dbs, db)
	}
	sort.Strings(dbs)
	for _, db := range dbs {
		tables := make([]string, 0, len(c[db]))
		for t := range c[db] {
			tables = append(tables, t)
		}
		sort.Strings(tables)
		for _, t := range tables {
			_, _ = h.Write([]byte(db + "\x00" + t + "\x00" + c[db][t] + "\n"))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// GetContentManifestArgs asks for the checksums too (they read every row: only on a quiescent instance).
type GetContentManifestArgs struct {
	Checksums bool `json:"checksums,omitempty"`
}

// Validate accepts any.
func (GetContentManifestArgs) Validate() error { return nil }

// Contents is get_content_manifest's answer; Checksums is nil unless asked for.
type Contents struct {
	Manifest  ContentManifest  `json:"manifest"`
	Checksums ContentChecksums `json:"checksums,omitempty"`
}

// GetContentManifest calls get_content_manifest (high: checksums read every row). Only our guests have it.
func (c *Client) GetContentManifest(ctx context.Context, rc rpc.Context, a GetContentManifestArgs) (Contents, error) {
	var r Contents
	err := c.call(ctx, rc, MethodGetContentManifest, a, &r, c.High)
	return r, err
}
