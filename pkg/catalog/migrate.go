package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/golang-migrate/migrate/v4"
	migratemysql "github.com/golang-migrate/migrate/v4/database/mysql"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/sirupsen/logrus"

	"github.com/trove-go/trove/db"
)

// Migrate brings the catalog to db.Head (trove-manage db_sync / db_upgrade). It handles an empty database, one
// of ours at any version, and one created by Python Trove: an alembic revision (or a sqlalchemy-migrate version
// 48/49) is adopted as the matching migration version first, exactly as Trove's db_sync stamps legacy schemas.
// Concurrent runs are serialised by golang-migrate's advisory lock.
func (d *DB) Migrate(ctx context.Context) error {
	return d.MigrateTo(ctx, db.Head)
}

// MigrateTo moves the catalog to version (up or down); version 0 drops everything.
func (d *DB) MigrateTo(ctx context.Context, version uint) error {
	m, closeFn, err := d.migrator()
	if err != nil {
		return err
	}
	defer closeFn()
	cur, dirty, err := m.Version()
	switch {
	case errors.Is(err, migrate.ErrNilVersion):
		adopt, aerr := d.legacyVersion(ctx)
		if aerr != nil {
			return aerr
		}
		if adopt > 0 {
			logrus.WithField("version", adopt).Info("adopting a catalog created by Python Trove")
			if err := d.stampAlembic(ctx, adopt); err != nil {
				return err
			}
			if err := m.Force(int(adopt)); err != nil {
				return fmt.Errorf("catalog: recording adopted version %d: %w", adopt, err)
			}
		}
	case err != nil:
		return fmt.Errorf("catalog: reading schema version: %w", err)
	case dirty:
		return fmt.Errorf("catalog: migration %d failed part-way earlier (schema_migrations.dirty = 1); repair the schema by hand, then set schema_migrations to the last complete version and run db_sync again", cur)
	}
	if version == 0 {
		err = m.Down()
	} else {
		err = m.Migrate(version)
	}
	if err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("catalog: migrating to version %d: %w", version, err)
	}
	return nil
}

// migrator builds a golang-migrate instance over its own connection with multiStatements (migration files hold
// several statements; the service pool never enables that).
func (d *DB) migrator() (*migrate.Migrate, func(), error) {
	cfg := d.cfg.Clone()
	cfg.MultiStatements = true
	sqldb, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, nil, fmt.Errorf("catalog: %w", err)
	}
	drv, err := migratemysql.WithInstance(sqldb, &migratemysql.Config{})
	if err != nil {
		sqldb.Close()
		return nil, nil, fmt.Errorf("catalog: preparing migrations: %w", err)
	}
	src, err := iofs.New(db.Migrations, "migrations")
	if err != nil {
		sqldb.Close()
		return nil, nil, fmt.Errorf("catalog: reading embedded migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "mysql", drv)
	if err != nil {
		sqldb.Close()
		return nil, nil, fmt.Errorf("catalog: %w", err)
	}
	return m, func() { m.Close() }, nil
}

// legacyVersion maps a schema created by Python Trove to our migration version; 0 means an empty database.
func (d *DB) legacyVersion(ctx context.Context) (uint, error) {
	if ok, err := d.tableExists(ctx, "alembic_version"); err != nil {
		return 0, err
	} else if ok {
		var rev string
		err := d.x.GetContext(ctx, &rev, "SELECT version_num FROM alembic_version LIMIT 1")
		if err == nil {
			v, known := db.AlembicRevisions[rev]
			if !known {
				return 0, fmt.Errorf("catalog: alembic revision %s is unknown to this binary (newer Trove?); refusing to migrate", rev)
			}
			return v, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, err
		}
	}
	if ok, err := d.tableExists(ctx, "migrate_version"); err != nil || !ok {
		return 0, err
	}
	var legacy int
	if err := d.x.GetContext(ctx, &legacy, "SELECT version FROM migrate_version LIMIT 1"); err != nil {
		return 0, fmt.Errorf("catalog: reading sqlalchemy-migrate version: %w", err)
	}
	if legacy > 49 {
		legacy = 49
	}
	v, ok := db.LegacyVersions[legacy]
	if !ok {
		return 0, fmt.Errorf("catalog: legacy sqlalchemy-migrate version %d is too old; upgrade to a version between Wallaby and Bobcat first", legacy)
	}
	return v, nil
}

// stampAlembic records the alembic revision matching an adopted version, as Trove's db_sync stamps a legacy
// sqlalchemy-migrate schema before upgrading (later migrations update the row).
func (d *DB) stampAlembic(ctx context.Context, version uint) error {
	rev := ""
	for r, v := range db.AlembicRevisions {
		if v == version {
			rev = r
		}
	}
	stmts := []string{
		"CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
		"DELETE FROM alembic_version",
	}
	for _, s := range stmts {
		if _, err := d.x.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("catalog: stamping alembic revision %s: %w", rev, err)
		}
	}
	if _, err := d.x.ExecContext(ctx, "INSERT INTO alembic_version (version_num) VALUES (?)", rev); err != nil {
		return fmt.Errorf("catalog: stamping alembic revision %s: %w", rev, err)
	}
	return nil
}

func (d *DB) tableExists(ctx context.Context, name string) (bool, error) {
	var n int
	err := d.x.GetContext(ctx, &n,
		"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?", name)
	return n > 0, err
}

// SchemaVersion reports the catalog's migration version (0 for an empty database) and whether the last
// migration failed part-way. A catalog last migrated by Python Trove reports its adopted version.
func (d *DB) SchemaVersion(ctx context.Context) (version uint, dirty bool, err error) {
	ok, err := d.tableExists(ctx, "schema_migrations")
	if err != nil {
		return 0, false, fmt.Errorf("catalog: %w", err)
	}
	if ok {
		var row struct {
			Version int64 `db:"version"`
			Dirty   bool  `db:"dirty"`
		}
		err := d.x.GetContext(ctx, &row, "SELECT version, dirty FROM schema_migrations LIMIT 1")
		if err == nil {
			return uint(row.Version), row.Dirty, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, false, fmt.Errorf("catalog: reading schema version: %w", err)
		}
	}
	v, err := d.legacyVersion(ctx)
	return v, false, err
}

// CheckSchema is called by every service at start: it refuses a catalog older than this binary (or one whose
// last migration failed), naming the command that fixes it. A newer catalog is accepted: migrations only add.
func (d *DB) CheckSchema(ctx context.Context) error {
	v, dirty, err := d.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if dirty {
		return fmt.Errorf("catalog schema migration %d failed part-way: repair it, then run `trove-manage --config-file /etc/trove/trove.conf db_sync`", v)
	}
	if v < db.Head {
		return fmt.Errorf("catalog schema is at %d, this binary needs %d: run `trove-manage --config-file /etc/trove/trove.conf db_sync`", v, db.Head)
	}
	return nil
}
