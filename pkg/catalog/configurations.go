package catalog

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
)

// Configuration is a configurations row (a configuration group).
type Configuration struct {
	ID                 string     `db:"id"`
	Name               string     `db:"name"`
	Description        string     `db:"description"`
	TenantID           string     `db:"tenant_id"`
	DatastoreVersionID string     `db:"datastore_version_id"`
	Deleted            bool       `db:"deleted"`
	DeletedAt          *time.Time `db:"deleted_at"`
	Created            time.Time  `db:"created"`
	Updated            time.Time  `db:"updated"`
}

const configurationCols = `id, name, COALESCE(description, '') AS description, tenant_id, datastore_version_id,
	deleted, deleted_at, COALESCE(created, TIMESTAMP'1970-01-01 00:00:00') AS created,
	COALESCE(updated, created, TIMESTAMP'1970-01-01 00:00:00') AS updated`

func configurationNotFound(id string) error {
	return fail(ErrNotFound, "Configuration group with ID %s could not be found.", id)
}

// CreateConfiguration inserts a group and its values (key → value as stored: ints as decimal text, booleans
// "1"/"0", strings verbatim) in one transaction.
func (d *DB) CreateConfiguration(ctx context.Context, c Configuration, values map[string]string) (Configuration, error) {
	if c.ID == "" {
		c.ID = NewID()
	}
	now := d.now()
	c.Created, c.Updated, c.Deleted, c.DeletedAt = now, now, false, nil
	err := d.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO configurations (id, name, description, tenant_id, datastore_version_id,
			deleted, deleted_at, created, updated) VALUES (?, ?, ?, ?, ?, 0, NULL, ?, ?)`,
			c.ID, c.Name, nullString(c.Description), c.TenantID, c.DatastoreVersionID, now, now); err != nil {
			return err
		}
		return upsertValues(ctx, tx, c.ID, values)
	})
	return c, err
}

func upsertValues(ctx context.Context, tx *sqlx.Tx, id string, values map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO configuration_parameters (configuration_id, configuration_key,
			configuration_value, deleted, deleted_at) VALUES (?, ?, ?, 0, NULL)
			ON DUPLICATE KEY UPDATE configuration_value = VALUES(configuration_value), deleted = 0, deleted_at = NULL`,
			id, k, values[k]); err != nil {
			return err
		}
	}
	return nil
}

// GetConfiguration returns a live group (callers check the tenant).
func (d *DB) GetConfiguration(ctx context.Context, id string) (Configuration, error) {
	var c Configuration
	err := d.x.GetContext(ctx, &c, "SELECT "+configurationCols+" FROM configurations WHERE id = ? AND deleted = 0", id)
	return c, notFoundIf(err, configurationNotFound(id))
}

// ListConfigurations lists live groups of a tenant ("" = all tenants) ordered by id with the id marker of
// api.md §1.4; next is the last id of a page followed by more rows.
func (d *DB) ListConfigurations(ctx context.Context, tenantID string, limit int, marker string) (rows []Configuration, next string, err error) {
	q := "SELECT " + configurationCols + " FROM configurations WHERE deleted = 0"
	var args []any
	if tenantID != "" {
		q += " AND tenant_id = ?"
		args = append(args, tenantID)
	}
	return selectPage(ctx, d, q, args, limit, marker, func(c *Configuration) string { return c.ID })
}

// ConfigurationValues returns a group's live values (key → stored string).
func (d *DB) ConfigurationValues(ctx context.Context, id string) (map[string]string, error) {
	var rows []struct {
		Key   string `db:"configuration_key"`
		Value string `db:"configuration_value"`
	}
	err := d.x.SelectContext(ctx, &rows, "SELECT configuration_key, COALESCE(configuration_value, '') AS configuration_value FROM configuration_parameters WHERE configuration_id = ? AND deleted = 0", id)
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.Key] = r.Value
	}
	return out, err
}

// UpdateConfiguration changes name and/or description (nil leaves it) and, when replace is true, replaces the
// whole value set with values (PUT); with replace false, values are merged in (PATCH). One transaction.
func (d *DB) UpdateConfiguration(ctx context.Context, id string, name, description *string, values map[string]string, replace bool) error {
	return d.inTx(ctx, func(tx *sqlx.Tx) error {
		now := d.now()
		q, args := "UPDATE configurations SET updated = ?", []any{now}
		if name != nil {
			q, args = q+", name = ?", append(args, *name)
		}
		if description != nil {
			q, args = q+", description = ?", append(args, nullString(*description))
		}
		res, err := tx.ExecContext(ctx, q+" WHERE id = ? AND deleted = 0", append(args, id)...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return configurationNotFound(id)
		}
		if replace {
			if _, err := tx.ExecContext(ctx, "UPDATE configuration_parameters SET deleted = 1, deleted_at = ? WHERE configuration_id = ? AND deleted = 0", now, id); err != nil {
				return err
			}
		}
		return upsertValues(ctx, tx, id, values)
	})
}

// DeleteConfiguration soft-deletes a group and its values. Callers refuse first when live instances use it
// (ConfigurationInstances).
func (d *DB) DeleteConfiguration(ctx context.Context, id string) error {
	return d.inTx(ctx, func(tx *sqlx.Tx) error {
		now := d.now()
		res, err := tx.ExecContext(ctx, "UPDATE configurations SET deleted = 1, deleted_at = ?, updated = ? WHERE id = ? AND deleted = 0", now, now, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return configurationNotFound(id)
		}
		_, err = tx.ExecContext(ctx, "UPDATE configuration_parameters SET deleted = 1, deleted_at = ? WHERE configuration_id = ? AND deleted = 0", now, id)
		return err
	})
}

// ConfigurationInstances lists the live instances a group is attached to (tenantID "" = all tenants), ordered by
// id with the id marker.
func (d *DB) ConfigurationInstances(ctx context.Context, id, tenantID string, limit int, marker string) (rows []Instance, next string, err error) {
	q := "SELECT " + instanceCols + " FROM instances WHERE configuration_id = ? AND deleted = 0"
	args := []any{id}
	if tenantID != "" {
		q += " AND tenant_id = ?"
		args = append(args, tenantID)
	}
	return selectPage(ctx, d, q, args, limit, marker, instanceID)
}
