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

// QuotaDefaultsFrom reads Trove's default hard limits: max_instances_per_tenant (10), max_ram_per_tenant (−1),
// max_volumes_per_tenant (40), max_backups_per_tenant (50), each falling back to its deprecated *_per_user name.
func QuotaDefaultsFrom(f *config.File) Defaults {
	return Defaults{
		Instances: f.Int("DEFAULT", "max_instances_per_tenant", f.Int("DEFAULT", "max_instances_per_user", TroveDefaults.Instances)),
		RAM:       f.Int("DEFAULT", "max_ram_per_tenant", TroveDefaults.RAM),
		Volumes:   f.Int("DEFAULT", "max_volumes_per_tenant", f.Int("DEFAULT", "max_volumes_per_user", TroveDefaults.Volumes)),
		Backups:   f.Int("DEFAULT", "max_backups_per_tenant", f.Int("DEFAULT", "max_backups_per_user", TroveDefaults.Backups)),
	}
}
