package mysql

import (
	"context"
	"database/sql"
	"sort"
	"strconv"
)

// Tables lists db's base tables (views have no rows of their own), sorted (datastore.ContentReader).
func (m *Manager) Tables(ctx context.Context, db string) ([]string, error) {
	adm, err := m.admin()
	if err != nil {
		return nil, err
	}
	rows, err := adm.QueryContext(ctx, `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?
		AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')`, db)
	if err != nil {
		return nil, redact(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	sort.Strings(out)
	return out, redact(rows.Err())
}

// TableChecksums is CHECKSUM TABLE of each table (its rows' CRC, the same for the same rows in the same table
// definition, which a physical restore keeps); a missing table's checksum is NULL and left out.
func (m *Manager) TableChecksums(ctx context.Context, db string, tables []string) (map[string]string, error) {
	adm, err := m.admin()
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(tables))
	for _, t := range tables {
		var name string
		var sum sql.NullInt64
		if err := adm.QueryRowContext(ctx, "CHECKSUM TABLE "+ident(db)+"."+ident(t)).Scan(&name, &sum); err != nil {
			return nil, redact(err)
		}
		if sum.Valid {
			out[t] = strconv.FormatInt(sum.Int64, 16)
		}
	}
	return out, nil
}
