package catalog_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/trove-go/trove/db"
	"github.com/trove-go/trove/pkg/catalog"
)

func schemaVersion(t *testing.T, d *catalog.DB) uint {
	t.Helper()
	v, dirty, err := d.SchemaVersion(ctx)
	if err != nil || dirty {
		t.Fatalf("SchemaVersion = %d, dirty %v, %v", v, dirty, err)
	}
	return v
}

// The migrated schema has Trove's column types, NULL-ness and index names (catalog.md §3), spot-checked.
func TestMigrateFreshSchema(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	if v := schemaVersion(t, d); v != db.Head {
		t.Fatalf("version %d, want %d", v, db.Head)
	}
	if err := d.CheckSchema(ctx); err != nil {
		t.Fatalf("CheckSchema: %v", err)
	}
	var rev string
	if err := d.Sqlx().Get(&rev, "SELECT version_num FROM alembic_version"); err != nil || rev != db.AlembicHead {
		t.Fatalf("alembic_version = %q, %v; want %s", rev, err, db.AlembicHead)
	}
	columns := []struct{ table, column, colType, nullable string }{
		{"instances", "id", "varchar(36)", "NO"},
		{"instances", "encrypted_key", "varchar(255)", "YES"},
		{"instances", "access", "text", "YES"},
		{"instances", "ssl_mode", "varchar(16)", "YES"},
		{"instances", "ssl_ref", "text", "YES"},
		{"instances", "deleted", "tinyint(1)", "YES"},
		{"service_statuses", "status_id", "int(11)", "NO"},
		{"service_statuses", "status_description", "varchar(64)", "NO"},
		{"datastore_versions", "registry_ext", "text", "NO"},
		{"datastore_versions", "repl_strategy", "text", "NO"},
		{"datastore_versions", "packages", "varchar(511)", "YES"},
		{"conductor_lastseen", "sent", "double", "YES"},
		{"backups", "storage_driver", "text", "YES"},
		{"backups", "size", "float", "YES"},
		{"backups", "content_manifest", "mediumtext", "YES"},
		{"backups", "content_checksum", "varchar(64)", "YES"},
		{"backups", "content_checksum_at", "datetime", "YES"},
		{"root_enabled_history", "deleted_at", "datetime", "YES"},
		{"modules", "contents", "longtext", "NO"},
		{"instance_faults", "details", "mediumtext", "NO"}, // Text(65535) in 4-byte utf8mb4
		{"rpc_peers", "envelope", "varchar(16)", "NO"},
		{"rpc_peers", "previous_encrypted_key", "varchar(255)", "YES"},
		{"agent_heartbeats", "updated_at", "datetime", "NO"},
		{"usage_events", "nova_volume_id", "varchar(36)", "YES"},
	}
	for _, c := range columns {
		var got struct {
			Type     string  `db:"COLUMN_TYPE"`
			Nullable string  `db:"IS_NULLABLE"`
			Default  *string `db:"COLUMN_DEFAULT"`
		}
		err := d.Sqlx().Get(&got, `SELECT COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT FROM information_schema.columns
			WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?`, c.table, c.column)
		if err != nil {
			t.Errorf("%s.%s: %v", c.table, c.column, err)
			continue
		}
		if got.Type != c.colType || got.Nullable != c.nullable {
			t.Errorf("%s.%s = %s nullable %s, want %s nullable %s", c.table, c.column, got.Type, got.Nullable, c.colType, c.nullable)
		}
		if got.Default != nil && *got.Default != "NULL" {
			t.Errorf("%s.%s has a server default %s", c.table, c.column, *got.Default)
		}
	}
	indexes := []struct{ table, index, columns string }{
		{"instances", "instances_tenant_id", "tenant_id"},
		{"instances", "instances_deleted", "deleted"},
		{"instances", "instances_cluster_id", "cluster_id"},
		{"service_statuses", "service_statuses_instance_id", "instance_id"},
		{"backups", "backups_instance_id", "instance_id"},
		{"datastore_versions", "ds_versions", "datastore_id,name,version"},
		{"datastore_version_metadata", "UQ_datastore_version_metadata_datastore_version_id_key_value", "datastore_version_id,key,value"},
		{"quotas", "tenant_id", "tenant_id,resource"},
		{"backup_strategy", "UQ_backup_strategy_tenant_id_instance_id", "tenant_id,instance_id"},
		{"agent_heartbeats", "ix_agent_heartbeats_instance_id", "instance_id"},
		{"conductor_lastseen", "PRIMARY", "instance_id,method_name"},
		{"datastore_configuration_parameters", "PRIMARY", "id,name,datastore_version_id"},
	}
	for _, ix := range indexes {
		var cols string
		err := d.Sqlx().Get(&cols, `SELECT GROUP_CONCAT(column_name ORDER BY seq_in_index) FROM information_schema.statistics
			WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ?`, ix.table, ix.index)
		if err != nil || cols != ix.columns {
			t.Errorf("index %s.%s = %q, %v; want %q", ix.table, ix.index, cols, err, ix.columns)
		}
	}
	var tables int
	if err := d.Sqlx().Get(&tables, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()"); err != nil {
		t.Fatal(err)
	}
	if tables != 37 { // 29 of Trove (incl. alembic_version) + rpc_peers, backup_schedules, backup_schedule_runs,
		// restore_drills, backup_drill_results, instance_health, replication_changes + schema_migrations
		t.Errorf("%d tables, want 37", tables)
	}
	// Idempotent.
	if err := d.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
}

func TestCheckSchemaRefusesOldCatalog(t *testing.T) {
	t.Parallel()
	d := openEmpty(t)
	err := d.CheckSchema(ctx)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("catalog schema is at 0, this binary needs %d: run `trove-manage", db.Head)) {
		t.Fatalf("empty catalog: CheckSchema = %v", err)
	}
	if err := d.MigrateTo(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if err := d.CheckSchema(ctx); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("is at 3, this binary needs %d", db.Head)) {
		t.Fatalf("CheckSchema at 3 = %v", err)
	}
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.CheckSchema(ctx); err != nil {
		t.Fatal(err)
	}
}

// A catalog created by Python Trove (alembic_version at a revision, no schema_migrations) is adopted and
// brought to head; Trove's older legacy revisions too.
func TestMigrateAdoptsPythonTroveCatalog(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		at    uint   // our version that produced the Python schema
		setup string // what turns it into a Python-made catalog
		want  uint
	}{
		{"alembic head", 6, "DROP TABLE schema_migrations", 6},
		{"alembic init", 1, "DROP TABLE schema_migrations", 1},
		{"sqlalchemy-migrate 49", 2, "DROP TABLE schema_migrations; DELETE FROM alembic_version; CREATE TABLE migrate_version (repository_id VARCHAR(250) PRIMARY KEY, repository_path TEXT, version INT); INSERT INTO migrate_version VALUES ('Trove Migrations', '/x', 49)", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := openEmpty(t)
			if err := d.MigrateTo(ctx, c.at); err != nil {
				t.Fatal(err)
			}
			for _, stmt := range strings.Split(c.setup, "; ") {
				if _, err := d.Sqlx().Exec(stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			if v := schemaVersion(t, d); v != c.want {
				t.Fatalf("SchemaVersion = %d, want %d", v, c.want)
			}
			if err := d.Migrate(ctx); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			if v := schemaVersion(t, d); v != db.Head {
				t.Fatalf("after Migrate: %d", v)
			}
			var revs []string
			if err := d.Sqlx().Select(&revs, "SELECT version_num FROM alembic_version"); err != nil || len(revs) != 1 || revs[0] != db.AlembicHead {
				t.Fatalf("alembic_version = %v, %v", revs, err)
			}
			if n := counts(t, d, "rpc_peers"); n["rpc_peers"] != 0 {
				t.Fatal("rpc_peers should exist and be empty")
			}
		})
	}
	t.Run("too old legacy", func(t *testing.T) {
		d := openEmpty(t)
		if _, err := d.Sqlx().Exec("CREATE TABLE migrate_version (repository_id VARCHAR(250) PRIMARY KEY, repository_path TEXT, version INT)"); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Sqlx().Exec("INSERT INTO migrate_version VALUES ('Trove Migrations', '/x', 40)"); err != nil {
			t.Fatal(err)
		}
		if err := d.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "between Wallaby and Bobcat") {
			t.Fatalf("Migrate = %v", err)
		}
	})
}

// Every down migration undoes its up migration.
func TestMigrateDownToEmpty(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	if err := d.MigrateTo(ctx, 0); err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := d.Sqlx().Select(&names, "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"); err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "schema_migrations" {
		t.Fatalf("tables left: %v", names)
	}
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestParseConnection(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, net, addr, user, pass, db string
	}{
		{"mysql+pymysql://trove:s3cr%40t@127.0.0.1/trove?charset=utf8", "tcp", "127.0.0.1:3306", "trove", "s3cr@t", "trove"},
		{"mysql://u:p@db.example:3307/cat", "tcp", "db.example:3307", "u", "p", "cat"},
		{"mysql+pymysql://u:p@/trove?unix_socket=/run/mysqld/mysqld.sock", "unix", "/run/mysqld/mysqld.sock", "u", "p", "trove"},
		{"mysql+pymysql://u:p@[::1]:3306/trove", "tcp", "[::1]:3306", "u", "p", "trove"},
		{"u:p@tcp(127.0.0.1:3306)/x?multiStatements=true", "tcp", "127.0.0.1:3306", "u", "p", "x"},
	}
	for _, c := range cases {
		cfg, err := catalog.ParseConnection(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if cfg.Net != c.net || cfg.Addr != c.addr || cfg.User != c.user || cfg.Passwd != c.pass || cfg.DBName != c.db {
			t.Errorf("%s → %s %s %s %s %s", c.in, cfg.Net, cfg.Addr, cfg.User, cfg.Passwd, cfg.DBName)
		}
		if !cfg.ParseTime || cfg.Loc.String() != "UTC" || cfg.MultiStatements || cfg.Params["charset"] != "utf8mb4" {
			t.Errorf("%s: options %+v", c.in, cfg)
		}
	}
	for _, bad := range []string{"", "sqlite://", "postgresql://u:p@h/db", "mysql+pymysql://u:p@host/", "mysql://u:p@h/db%zz"} {
		_, err := catalog.ParseConnection(bad)
		if err == nil {
			t.Errorf("%s: accepted", bad)
		} else if strings.Contains(err.Error(), ":p@") {
			t.Errorf("%s: error leaks the password: %v", bad, err)
		}
	}
}
