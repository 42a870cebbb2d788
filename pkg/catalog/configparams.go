package catalog

import (
	"context"

	"github.com/jmoiron/sqlx"
)

// ConfigParam is a datastore_configuration_parameters row: one configuration option a version accepts in
// configuration groups (loaded from validation-rules.json by trove-manage db_load_datastore_config_parameters).
type ConfigParam struct {
	ID                 string `db:"id"`
	Name               string `db:"name"`
	DatastoreVersionID string `db:"datastore_version_id"`
	RestartRequired    bool   `db:"restart_required"`
	MaxSize            string `db:"max_size"`  // "" = no maximum; decimal text
	MinSize            string `db:"min_size"`  // "" = no minimum
	DataType           string `db:"data_type"` // boolean, string, integer, float
}

const configParamCols = `id, name, datastore_version_id, restart_required, COALESCE(max_size, '') AS max_size,
	COALESCE(min_size, '') AS min_size, data_type`

// ConfigParams lists a version's parameters ordered by name.
func (d *DB) ConfigParams(ctx context.Context, versionID string) ([]ConfigParam, error) {
	var out []ConfigParam
	err := d.x.SelectContext(ctx, &out, "SELECT "+configParamCols+" FROM datastore_configuration_parameters WHERE datastore_version_id = ? ORDER BY name", versionID)
	return out, err
}

// ConfigParam returns one parameter of a version by name.
func (d *DB) ConfigParam(ctx context.Context, versionID, name string) (ConfigParam, error) {
	var p ConfigParam
	err := d.x.GetContext(ctx, &p, "SELECT "+configParamCols+" FROM datastore_configuration_parameters WHERE datastore_version_id = ? AND name = ?", versionID, name)
	return p, notFoundIf(err, fail(ErrNotFound, "The parameter %s is not supported for datastore version %s.", name, versionID))
}

// UpsertConfigParams creates or updates a version's parameters by name, in one transaction (Trove's
// create_or_update_datastore_configuration_parameter for each entry of validation-rules.json).
func (d *DB) UpsertConfigParams(ctx context.Context, versionID string, params []ConfigParam) error {
	return d.inTx(ctx, func(tx *sqlx.Tx) error {
		var exists int
		if err := tx.GetContext(ctx, &exists, "SELECT COUNT(*) FROM datastore_versions WHERE id = ?", versionID); err != nil {
			return err
		}
		if exists == 0 {
			return fail(ErrNotFound, "Datastore version '%s' cannot be found.", versionID)
		}
		for _, p := range params {
			if p.Name == "" || p.DataType == "" {
				return fail(ErrBadRequest, "Configuration parameter %q needs a name and a type.", p.Name)
			}
			res, err := tx.ExecContext(ctx, `UPDATE datastore_configuration_parameters SET restart_required = ?, max_size = ?,
				min_size = ?, data_type = ? WHERE datastore_version_id = ? AND name = ?`,
				p.RestartRequired, nullString(p.MaxSize), nullString(p.MinSize), p.DataType, versionID, p.Name)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO datastore_configuration_parameters
				(id, name, datastore_version_id, restart_required, max_size, min_size, data_type) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				NewID(), p.Name, versionID, p.RestartRequired, nullString(p.MaxSize), nullString(p.MinSize), p.DataType); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteConfigParams removes every parameter of a version (hard delete, as Trove) and returns how many.
func (d *DB) DeleteConfigParams(ctx context.Context, versionID string) (int64, error) {
	res, err := d.x.ExecContext(ctx, "DELETE FROM datastore_configuration_parameters WHERE datastore_version_id = ?", versionID)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
