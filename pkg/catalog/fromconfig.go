package catalog

import (
	"github.com/trove-go/trove/pkg/config"
)

// OpenConfig opens the catalog from Trove's oslo.db options: [database] connection, max_pool_size (5) +
// max_overflow (50) bound the pool, connection_recycle_time (3600 s) recycles connections.
func OpenConfig(f *config.File) (*DB, error) {
	d, err := Open(f.String("database", "connection", ""))
	if err != nil {
		return nil, err
	}
	pool := f.Int("database", "max_pool_size", 5)
	d.x.SetMaxIdleConns(pool)
	d.x.SetMaxOpenConns(pool + f.Int("database", "max_overflow", 50))
	d.x.SetConnMaxLifetime(f.Seconds("database", "connection_recycle_time", 3600))
	if err := f.Err(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}
