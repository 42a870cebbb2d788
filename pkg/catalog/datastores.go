package catalog

import (
	"context"
	"database/sql"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// Datastore is a datastores row.
type Datastore struct {
	ID               string `db:"id"`
	Name             string `db:"name"`
	DefaultVersionID string `db:"default_version_id"` // "" when unset
}

// DatastoreVersion is a datastore_versions row.
type DatastoreVersion struct {
	ID           string `db:"id"`
	DatastoreID  string `db:"datastore_id"`
	Name         string `db:"name"`
	ImageID      string `db:"image_id"`   // "" when image_tags are used
	Packages     string `db:"packages"`   // comma-joined
	Active       bool   `db:"active"`     //
	Manager      string `db:"manager"`    // mysql, mariadb, postgresql, …
	ImageTags    string `db:"image_tags"` // comma-separated
	Version      string `db:"version"`    // version number; defaults to Name
	RegistryExt  string `db:"registry_ext"`
	ReplStrategy string `db:"repl_strategy"`
}

const datastoreCols = "id, COALESCE(name, '') AS name, COALESCE(default_version_id, '') AS default_version_id"

const versionCols = `id, COALESCE(datastore_id, '') AS datastore_id, COALESCE(name, '') AS name,
	COALESCE(image_id, '') AS image_id, COALESCE(packages, '') AS packages, active,
	COALESCE(manager, '') AS manager, COALESCE(image_tags, '') AS image_tags,
	COALESCE(version, name, '') AS version, registry_ext, repl_strategy`

// ListDatastores returns every datastore ordered by name (the API filters to those with active versions).
func (d *DB) ListDatastores(ctx context.Context) ([]Datastore, error) {
	var out []Datastore
	err := d.x.SelectContext(ctx, &out, "SELECT "+datastoreCols+" FROM datastores ORDER BY name")
	return out, err
}

// GetDatastore finds a datastore by id, then by name (Trove's Datastore.load).
func (d *DB) GetDatastore(ctx context.Context, idOrName string) (Datastore, error) {
	return getDatastore(ctx, d.x, idOrName)
}

func getDatastore(ctx context.Context, q sqlx.QueryerContext, idOrName string) (Datastore, error) {
	var ds Datastore
	err := sqlx.GetContext(ctx, q, &ds, "SELECT "+datastoreCols+" FROM datastores WHERE id = ?", idOrName)
	if err == sql.ErrNoRows {
		err = sqlx.GetContext(ctx, q, &ds, "SELECT "+datastoreCols+" FROM datastores WHERE name = ?", idOrName)
	}
	return ds, notFoundIf(err, fail(ErrNotFound, "Datastore '%s' cannot be found.", idOrName))
}

// ListVersions returns every version (active or not) of a datastore ordered by name, version.
func (d *DB) ListVersions(ctx context.Context, datastoreID string) ([]DatastoreVersion, error) {
	var out []DatastoreVersion
	err := d.x.SelectContext(ctx, &out, "SELECT "+versionCols+" FROM datastore_versions WHERE datastore_id = ? ORDER BY name, version", datastoreID)
	return out, err
}

// ListAllVersions returns every version of every datastore (mgmt API; datastore lists in one query).
func (d *DB) ListAllVersions(ctx context.Context) ([]DatastoreVersion, error) {
	var out []DatastoreVersion
	err := d.x.SelectContext(ctx, &out, "SELECT "+versionCols+" FROM datastore_versions ORDER BY datastore_id, name, version")
	return out, err
}

// GetVersion finds a version by id.
func (d *DB) GetVersion(ctx context.Context, id string) (DatastoreVersion, error) {
	var v DatastoreVersion
	err := d.x.GetContext(ctx, &v, "SELECT "+versionCols+" FROM datastore_versions WHERE id = ?", id)
	return v, notFoundIf(err, fail(ErrNotFound, "Datastore version '%s' cannot be found.", id))
}

// FindVersion resolves a (datastore, version) pair as Trove's get_datastore_version does: the datastore by id or
// name; the version by UUID, else by name within the datastore (several matches → ErrAmbiguous), else — when
// versionIDOrName is "" — the datastore's default version. Active is not checked; callers decide.
func (d *DB) FindVersion(ctx context.Context, datastoreIDOrName, versionIDOrName string) (Datastore, DatastoreVersion, error) {
	return d.FindVersionNumber(ctx, datastoreIDOrName, versionIDOrName, "")
}

// FindVersionNumber is FindVersion with an explicit version number to pick among versions sharing a name.
func (d *DB) FindVersionNumber(ctx context.Context, datastoreIDOrName, versionIDOrName, number string) (Datastore, DatastoreVersion, error) {
	ds, err := d.GetDatastore(ctx, datastoreIDOrName)
	if err != nil {
		return ds, DatastoreVersion{}, err
	}
	if versionIDOrName == "" {
		if ds.DefaultVersionID == "" {
			return ds, DatastoreVersion{}, fail(ErrNotFound, "Default version for datastore '%s' not found.", ds.Name)
		}
		versionIDOrName = ds.DefaultVersionID
	}
	v, err := findVersion(ctx, d.x, ds, versionIDOrName, number)
	return ds, v, err
}

func findVersion(ctx context.Context, q sqlx.QueryerContext, ds Datastore, idOrName, number string) (DatastoreVersion, error) {
	var vs []DatastoreVersion
	var err error
	switch {
	case isUUID(idOrName):
		err = sqlx.SelectContext(ctx, q, &vs, "SELECT "+versionCols+" FROM datastore_versions WHERE datastore_id = ? AND id = ?", ds.ID, idOrName)
	case number != "":
		err = sqlx.SelectContext(ctx, q, &vs, "SELECT "+versionCols+" FROM datastore_versions WHERE datastore_id = ? AND name = ? AND version = ?", ds.ID, idOrName, number)
	default:
		err = sqlx.SelectContext(ctx, q, &vs, "SELECT "+versionCols+" FROM datastore_versions WHERE datastore_id = ? AND name = ?", ds.ID, idOrName)
	}
	if err != nil {
		return DatastoreVersion{}, err
	}
	switch len(vs) {
	case 0:
		shown := idOrName
		if number != "" {
			shown = number
		}
		return DatastoreVersion{}, fail(ErrNotFound, "Datastore version '%s' cannot be found.", shown)
	case 1:
		return vs[0], nil
	}
	return DatastoreVersion{}, fail(ErrAmbiguous, "Multiple datastore versions found for '%s', use an UUID or specify both the name and version number to be more specific.", idOrName)
}

func isUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// UpdateDatastore creates the datastore if missing and sets (or, with defaultVersion "", clears) its default
// version, given by name or id; the version must be active (trove-manage datastore_update).
func (d *DB) UpdateDatastore(ctx context.Context, name, defaultVersion string) (Datastore, error) {
	var ds Datastore
	err := d.inTx(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &ds, "SELECT "+datastoreCols+" FROM datastores WHERE name = ? FOR UPDATE", name)
		if err == sql.ErrNoRows {
			ds = Datastore{ID: NewID(), Name: name}
			if _, err := tx.ExecContext(ctx, "INSERT INTO datastores (id, name, default_version_id) VALUES (?, ?, NULL)", ds.ID, ds.Name); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		ds.DefaultVersionID = ""
		if defaultVersion != "" {
			v, err := findVersion(ctx, tx, ds, defaultVersion, "")
			if err != nil {
				return err
			}
			if !v.Active {
				return fail(ErrBadRequest, "Datastore version '%s' is not active.", v.Name)
			}
			ds.DefaultVersionID = v.ID
		}
		_, err = tx.ExecContext(ctx, "UPDATE datastores SET default_version_id = ? WHERE id = ?", nullString(ds.DefaultVersionID), ds.ID)
		return err
	})
	return ds, err
}

// VersionUpdate describes a datastore version to create or update (trove-manage datastore_version_update and
// the mgmt API). RegistryExt and ReplStrategy are required (see DefaultRegistryExt / DefaultReplStrategy).
type VersionUpdate struct {
	Datastore    string // datastore name or id; must exist
	Name         string
	Version      string // version number; "" means Name
	Manager      string
	ImageID      string
	ImageTags    []string
	Packages     string
	Active       bool
	RegistryExt  string
	ReplStrategy string
}

// UpdateDatastoreVersion upserts a version by (datastore, name, version number): an existing row keeps its id
// and gets every other value replaced, as Trove's update_datastore_version does.
func (d *DB) UpdateDatastoreVersion(ctx context.Context, u VersionUpdate) (DatastoreVersion, error) {
	if u.Version == "" {
		u.Version = u.Name
	}
	if u.Name == "" || u.Manager == "" {
		return DatastoreVersion{}, fail(ErrBadRequest, "A datastore version needs a name and a manager.")
	}
	if u.RegistryExt == "" || u.ReplStrategy == "" {
		return DatastoreVersion{}, fail(ErrBadRequest, "No registry extension or replication strategy known for manager '%s'; give them explicitly.", u.Manager)
	}
	v := DatastoreVersion{
		Name: u.Name, Version: u.Version, Manager: u.Manager, ImageID: u.ImageID,
		ImageTags: strings.Join(u.ImageTags, ","), Packages: u.Packages, Active: u.Active,
		RegistryExt: u.RegistryExt, ReplStrategy: u.ReplStrategy,
	}
	for _, f := range []struct {
		what, value string
		max         int
	}{{"name", v.Name, 255}, {"version", v.Version, 255}, {"manager", v.Manager, 255}, {"image id", v.ImageID, 36},
		{"image tags", v.ImageTags, 255}, {"packages", v.Packages, 511}} {
		if n := utf8.RuneCountInString(f.value); n > f.max {
			return DatastoreVersion{}, fail(ErrBadRequest, "The datastore version %s is %d characters long; at most %d fit.", f.what, n, f.max)
		}
	}
	err := d.inTx(ctx, func(tx *sqlx.Tx) error {
		ds, err := getDatastore(ctx, tx, u.Datastore)
		if err != nil {
			return err
		}
		v.DatastoreID = ds.ID
		err = tx.GetContext(ctx, &v.ID, "SELECT id FROM datastore_versions WHERE datastore_id = ? AND name = ? AND version = ? FOR UPDATE", ds.ID, u.Name, u.Version)
		if err == sql.ErrNoRows {
			v.ID = NewID()
			_, err = tx.NamedExecContext(ctx, `INSERT INTO datastore_versions
				(id, datastore_id, name, image_id, packages, active, manager, image_tags, version, registry_ext, repl_strategy)
				VALUES (:id, :datastore_id, :name, :image_id, :packages, :active, :manager, NULLIF(:image_tags, ''), :version, :registry_ext, :repl_strategy)`, v)
			return err
		}
		if err != nil {
			return err
		}
		_, err = tx.NamedExecContext(ctx, `UPDATE datastore_versions SET image_id = :image_id, packages = :packages,
			active = :active, manager = :manager, image_tags = NULLIF(:image_tags, ''), registry_ext = :registry_ext,
			repl_strategy = :repl_strategy WHERE id = :id`, v)
		return err
	})
	return v, err
}

// Built-in guest manager classes and replication strategies (Trove's REGISTRY_EXT_DEFAULTS and the per-manager
// replication_namespace.replication_strategy option defaults).
var (
	registryExtDefaults = map[string]string{
		"mysql":      "trove.guestagent.datastore.mysql.manager.Manager",
		"mariadb":    "trove.guestagent.datastore.mariadb.manager.Manager",
		"postgresql": "trove.guestagent.datastore.postgres.manager.PostgresManager",
	}
	replStrategyDefaults = map[string][2]string{
		"mysql":      {"trove.guestagent.strategies.replication.mysql_gtid", "MysqlGTIDReplication"},
		"mariadb":    {"trove.guestagent.strategies.replication.mariadb_gtid", "MariaDBGTIDReplication"},
		"postgresql": {"trove.guestagent.strategies.replication.postgresql", "PostgresqlReplicationStreaming"},
	}
)

// DefaultRegistryExt is the guest manager class Trove records for a manager, or "" when it has none.
func DefaultRegistryExt(manager string) string { return registryExtDefaults[manager] }

// DefaultReplStrategy is "<replication_namespace>.<replication_strategy>" for a manager; namespace and strategy
// override the option defaults when not empty (callers pass [<manager>] options from trove.conf).
func DefaultReplStrategy(manager, namespace, strategy string) string {
	def, ok := replStrategyDefaults[manager]
	if namespace == "" {
		namespace = def[0]
	}
	if strategy == "" {
		strategy = def[1]
	}
	if !ok && (namespace == "" || strategy == "") {
		return ""
	}
	return namespace + "." + strategy
}

// Metadata keys of datastore_version_metadata.
const (
	MetadataFlavor     = "flavor"
	MetadataVolumeType = "volume_type"
)

// VersionFlavors lists the flavor ids allowed for a version (live `flavor` metadata rows); empty means any.
func (d *DB) VersionFlavors(ctx context.Context, versionID string) ([]string, error) {
	return d.VersionMetadata(ctx, versionID, MetadataFlavor)
}

// VersionVolumeTypes lists the volume types allowed for a version; empty means any.
func (d *DB) VersionVolumeTypes(ctx context.Context, versionID string) ([]string, error) {
	return d.VersionMetadata(ctx, versionID, MetadataVolumeType)
}

// VersionMetadata lists the live values of one metadata key of a version, sorted.
func (d *DB) VersionMetadata(ctx context.Context, versionID, key string) ([]string, error) {
	var out []string
	err := d.x.SelectContext(ctx, &out, "SELECT COALESCE(value, '') FROM datastore_version_metadata WHERE datastore_version_id = ? AND `key` = ? AND deleted = 0", versionID, key)
	sort.Strings(out)
	return out, err
}

// AddVersionMetadata associates values (flavor ids, volume types) with a version: a soft-deleted pair is revived,
// a live one is ErrConflict (Trove's …AssociationAlreadyExists); all or nothing.
func (d *DB) AddVersionMetadata(ctx context.Context, versionID, key string, values []string) error {
	return d.inTx(ctx, func(tx *sqlx.Tx) error {
		now := d.now()
		for _, val := range values {
			var row struct {
				ID      string `db:"id"`
				Deleted bool   `db:"deleted"`
			}
			err := tx.GetContext(ctx, &row, "SELECT id, deleted FROM datastore_version_metadata WHERE datastore_version_id = ? AND `key` = ? AND value = ? FOR UPDATE", versionID, key, val)
			switch {
			case err == sql.ErrNoRows:
				_, err = tx.ExecContext(ctx, "INSERT INTO datastore_version_metadata (id, datastore_version_id, `key`, value, created, deleted, deleted_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, NULL, ?)", NewID(), versionID, key, val, now, now)
				if isForeignKey(err) {
					return fail(ErrNotFound, "Datastore version '%s' cannot be found.", versionID)
				}
			case err != nil:
			case row.Deleted:
				_, err = tx.ExecContext(ctx, "UPDATE datastore_version_metadata SET deleted = 0, updated_at = ? WHERE id = ?", now, row.ID)
			case key == MetadataFlavor:
				return fail(ErrConflict, "Flavor %s is already associated with datastore version %s", val, versionID)
			default:
				return fail(ErrConflict, "Datastore version %s and volume-type %s mapping already exists.", versionID, val)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteVersionMetadata soft-deletes one association; a missing or already deleted one is ErrNotFound.
func (d *DB) DeleteVersionMetadata(ctx context.Context, versionID, key, value string) error {
	res, err := d.x.ExecContext(ctx, "UPDATE datastore_version_metadata SET deleted = 1, deleted_at = ?, updated_at = ? WHERE datastore_version_id = ? AND `key` = ? AND value = ? AND deleted = 0", d.now(), d.now(), versionID, key, value)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if key == MetadataFlavor {
			return fail(ErrNotFound, "Flavor %s is not supported for datastore version %s", value, versionID)
		}
		return fail(ErrNotFound, "The volume type %s is not valid for datastore version %s.", value, versionID)
	}
	return nil
}

// DeleteDatastoreVersion removes a version (mgmt API): refused with ErrBadRequest ("Datastore version is in use
// by instance.", backup, configuration) while live rows use it; otherwise its configuration parameters, its
// metadata and the version row go, and the datastore's default is cleared if it pointed here. One transaction.
func (d *DB) DeleteDatastoreVersion(ctx context.Context, id string) error {
	return d.inTx(ctx, func(tx *sqlx.Tx) error {
		var v DatastoreVersion
		if err := tx.GetContext(ctx, &v, "SELECT "+versionCols+" FROM datastore_versions WHERE id = ? FOR UPDATE", id); err != nil {
			return notFoundIf(err, fail(ErrNotFound, "Datastore version '%s' cannot be found.", id))
		}
		for _, use := range []struct{ resource, query string }{
			{"instance", "SELECT COUNT(*) FROM instances WHERE datastore_version_id = ? AND COALESCE(deleted, 0) = 0"},
			{"backup", "SELECT COUNT(*) FROM backups WHERE datastore_version_id = ? AND COALESCE(deleted, 0) = 0"},
			{"configuration", "SELECT COUNT(*) FROM configurations WHERE datastore_version_id = ? AND deleted = 0"},
		} {
			var n int
			if err := tx.GetContext(ctx, &n, use.query, id); err != nil {
				return err
			}
			if n > 0 {
				return fail(ErrBadRequest, "Datastore version is in use by %s.", use.resource)
			}
		}
		stmts := []string{
			"DELETE FROM datastore_configuration_parameters WHERE datastore_version_id = ?",
			"DELETE FROM datastore_version_metadata WHERE datastore_version_id = ?",
			"DELETE FROM capability_overrides WHERE datastore_version_id = ?",
			"UPDATE datastores SET default_version_id = NULL WHERE default_version_id = ?",
			"DELETE FROM datastore_versions WHERE id = ?",
		}
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s, id); err != nil {
				if isForeignKey(err) {
					return fail(ErrBadRequest, "Datastore version is in use by cluster.")
				}
				return err
			}
		}
		return nil
	})
}
