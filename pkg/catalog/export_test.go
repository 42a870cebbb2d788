package catalog

import "github.com/jmoiron/sqlx"

// Sqlx exposes the pool to this package's tests, for checks no method offers.
func (d *DB) Sqlx() *sqlx.DB { return d.x }
