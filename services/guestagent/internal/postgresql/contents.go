package postgresql

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"sort"
	"strings"
)

// Tables lists db's tables (and partitioned tables) of every schema but pg_catalog, information_schema and
// pg_* (toast, temporary), as schema.table, sorted (datastore.ContentReader).
func (m *Manager) Tables(ctx context.Context, db string) ([]string, error) {
	rows, err := m.query(ctx, db, `SELECT schemaname || '.' || tablename FROM pg_tables
		WHERE schemaname <> 'information_schema' AND schemaname NOT LIKE 'pg\_%'`)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		if len(r) == 1 {
			out = append(out, r[0])
		}
	}
	sort.Strings(out)
	return out, nil
}

// TableChecksums checksums each schema.table of db in one pass over its rows, in constant memory and whatever
// the rows' order: the row count and the sums of the first and the last 64 bits of each row's md5 (of its
// text form), hashed with md5. The tables are Tables' (a table that does not exist fails the query).
func (m *Manager) TableChecksums(ctx context.Context, db string, tables []string) (map[string]string, error) {
	out := make(map[string]string, len(tables))
	if len(tables) == 0 {
		return out, nil
	}
	var parts []string
	for _, t := range tables {
		schema, name, _ := strings.Cut(t, ".")
		parts = append(parts, "SELECT "+lit(t)+", (SELECT count(*) || ':' || COALESCE(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)"+
			" || ':' || COALESCE(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0) FROM (SELECT md5(r::text) AS h FROM "+
			ident(schema)+"."+ident(name)+" r) s)")
	}
	rows, err := m.query(ctx, db, strings.Join(parts, " UNION ALL "))
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if len(r) == 2 {
			sum := md5.Sum([]byte(r[1]))
			out[r[0]] = hex.EncodeToString(sum[:])
		}
	}
	return out, nil
}
