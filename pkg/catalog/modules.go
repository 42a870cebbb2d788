package catalog

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
)

// Module is a modules row. Contents hold base64(IV‖AES-CBC) under module_aes_cbc_key; MD5 is of the plain
// contents. "" in TenantID / DatastoreID / DatastoreVersionID means "all" (NULL).
type Module struct {
	ID                 string     `db:"id"`
	Name               string     `db:"name"`
	Type               string     `db:"type"`
	Contents           string     `db:"contents"`
	Description        string     `db:"description"`
	TenantID           string     `db:"tenant_id"`
	DatastoreID        string     `db:"datastore_id"`
	DatastoreVersionID string     `db:"datastore_version_id"`
	AutoApply          bool       `db:"auto_apply"`
	Visible            bool       `db:"visible"`
	LiveUpdate         bool       `db:"live_update"`
	MD5                string     `db:"md5"`
	Created            time.Time  `db:"created"`
	Updated            time.Time  `db:"updated"`
	Deleted            bool       `db:"deleted"`
	DeletedAt          *time.Time `db:"deleted_at"`
	PriorityApply      bool       `db:"priority_apply"`
	ApplyOrder         int        `db:"apply_order"` // 0–9, Trove's default 5
	IsAdmin            bool       `db:"is_admin"`
}

const moduleCols = `id, name, type, contents, COALESCE(description, '') AS description, COALESCE(tenant_id, '') AS tenant_id,
	COALESCE(datastore_id, '') AS datastore_id, COALESCE(datastore_version_id, '') AS datastore_version_id,
	auto_apply, visible, live_update, md5, created, updated, deleted, deleted_at, priority_apply, apply_order, is_admin`

// ModuleRef names a module applied to an instance, with the MD5 of the contents applied.
type ModuleRef struct {
	ModuleID string
	MD5      string
}

func moduleNotFound(id string) error {
	return fail(ErrNotFound, "Module with ID %s could not be found.", id)
}

// CreateModule inserts a module; a live module with the same name, type, tenant, datastore and version is
// ErrBadRequest with Trove's ModuleAlreadyExists text.
func (d *DB) CreateModule(ctx context.Context, m Module) (Module, error) {
	if m.ID == "" {
		m.ID = NewID()
	}
	now := d.now()
	m.Created, m.Updated, m.Deleted, m.DeletedAt = now, now, false, nil
	err := d.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := moduleKeyFree(ctx, tx, m); err != nil {
			return err
		}
		_, err := tx.NamedExecContext(ctx, `INSERT INTO modules (id, name, type, contents, description, tenant_id,
			datastore_id, datastore_version_id, auto_apply, visible, live_update, md5, created, updated, deleted,
			deleted_at, priority_apply, apply_order, is_admin) VALUES (:id, :name, :type, :contents, NULLIF(:description, ''),
			NULLIF(:tenant_id, ''), NULLIF(:datastore_id, ''), NULLIF(:datastore_version_id, ''), :auto_apply, :visible,
			:live_update, :md5, :created, :updated, 0, NULL, :priority_apply, :apply_order, :is_admin)`, m)
		return err
	})
	return m, err
}

func moduleKeyFree(ctx context.Context, tx *sqlx.Tx, m Module) error {
	var n int
	err := tx.GetContext(ctx, &n, `SELECT COUNT(*) FROM modules WHERE deleted = 0 AND id <> ? AND name = ? AND type = ?
		AND COALESCE(tenant_id, '') = ? AND COALESCE(datastore_id, '') = ? AND COALESCE(datastore_version_id, '') = ?`,
		m.ID, m.Name, m.Type, m.TenantID, m.DatastoreID, m.DatastoreVersionID)
	if err != nil || n == 0 {
		return err
	}
	ds, ver := m.DatastoreID, m.DatastoreVersionID
	if ds == "" {
		ds = "all"
	}
	if ver == "" {
		ver = "all"
	}
	return fail(ErrBadRequest, "A module with the name '%s' already exists for datastore '%s' and datastore version '%s'", m.Name, ds, ver)
}

// GetModule returns a live module (callers check tenant visibility).
func (d *DB) GetModule(ctx context.Context, id string) (Module, error) {
	var m Module
	err := d.x.GetContext(ctx, &m, "SELECT "+moduleCols+" FROM modules WHERE id = ? AND deleted = 0", id)
	return m, notFoundIf(err, moduleNotFound(id))
}

// ModuleFilter selects live modules. Admin lists everything; otherwise the tenant's and the all-tenant modules
// (and, with VisibleOnly, only visible ones). Datastore filters by datastore id when set ("all": only modules for
// every datastore). IDs restricts to those ids. AutoApply with DatastoreID/VersionID selects the auto-apply
// modules that match an instance (NULL columns match everything).
type ModuleFilter struct {
	Admin       bool
	TenantID    string
	VisibleOnly bool
	Datastore   string
	IDs         []string
	AutoApply   bool
	VersionID   string
}

// ListModules returns the live modules selected by f, ordered by name, id.
func (d *DB) ListModules(ctx context.Context, f ModuleFilter) ([]Module, error) {
	q := "SELECT " + moduleCols + " FROM modules WHERE deleted = 0"
	var args []any
	if !f.Admin {
		q += " AND (tenant_id = ? OR tenant_id IS NULL)"
		args = append(args, f.TenantID)
		if f.VisibleOnly {
			q += " AND visible = 1"
		}
	}
	switch {
	case f.AutoApply:
		q += " AND auto_apply = 1 AND (datastore_id = ? OR datastore_id IS NULL) AND (datastore_version_id = ? OR datastore_version_id IS NULL)"
		args = append(args, f.Datastore, f.VersionID)
	case f.Datastore == "all":
		q += " AND datastore_id IS NULL"
	case f.Datastore != "":
		q += " AND datastore_id = ?"
		args = append(args, f.Datastore)
	}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			return nil, nil
		}
		in, inArgs, err := sqlx.In(" AND id IN (?)", f.IDs)
		if err != nil {
			return nil, err
		}
		q += in
		args = append(args, inArgs...)
	}
	var out []Module
	err := d.x.SelectContext(ctx, &out, q+" ORDER BY name, id", args...)
	return out, err
}

// UpdateModule replaces a live module's mutable columns (everything but id, created and deletion) from m.
func (d *DB) UpdateModule(ctx context.Context, m Module) (Module, error) {
	m.Updated = d.now()
	err := d.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := moduleKeyFree(ctx, tx, m); err != nil {
			return err
		}
		res, err := tx.NamedExecContext(ctx, `UPDATE modules SET name = :name, type = :type, contents = :contents,
			description = NULLIF(:description, ''), tenant_id = NULLIF(:tenant_id, ''), datastore_id = NULLIF(:datastore_id, ''),
			datastore_version_id = NULLIF(:datastore_version_id, ''), auto_apply = :auto_apply, visible = :visible,
			live_update = :live_update, md5 = :md5, updated = :updated, priority_apply = :priority_apply,
			apply_order = :apply_order, is_admin = :is_admin WHERE id = :id AND deleted = 0`, m)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return moduleNotFound(m.ID)
		}
		return nil
	})
	return m, err
}

// DeleteModule soft-deletes a module (deleted_at is part of the unique key, so the name becomes free).
// Callers refuse first while it is applied (ModuleInstances), as Trove does.
func (d *DB) DeleteModule(ctx context.Context, id string) error {
	now := d.now()
	res, err := d.x.ExecContext(ctx, "UPDATE modules SET deleted = 1, deleted_at = ?, updated = ? WHERE id = ? AND deleted = 0", now, now, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return moduleNotFound(id)
	}
	return nil
}

// InstanceModule is a live instance_modules row.
type InstanceModule struct {
	ID         string    `db:"id"`
	InstanceID string    `db:"instance_id"`
	ModuleID   string    `db:"module_id"`
	MD5        string    `db:"md5"`
	Created    time.Time `db:"created"`
	Updated    time.Time `db:"updated"`
}

// ApplyModules records modules applied to an instance (Trove's InstanceModule.create): a live row with the same
// MD5 is refreshed, other live rows of the module are soft-deleted, else a row is inserted.
func (d *DB) ApplyModules(ctx context.Context, instanceID string, refs []ModuleRef) error {
	return d.inTx(ctx, func(tx *sqlx.Tx) error { return applyModules(ctx, tx, d.now(), instanceID, refs) })
}

func applyModules(ctx context.Context, tx *sqlx.Tx, now time.Time, instanceID string, refs []ModuleRef) error {
	for _, r := range refs {
		var keep sql.NullString
		err := tx.GetContext(ctx, &keep, "SELECT id FROM instance_modules WHERE instance_id = ? AND module_id = ? AND md5 = ? AND deleted = 0 ORDER BY created LIMIT 1 FOR UPDATE",
			instanceID, r.ModuleID, r.MD5)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE instance_modules SET deleted = 1, deleted_at = ?, updated = ? WHERE instance_id = ? AND module_id = ? AND deleted = 0 AND id <> ?",
			now, now, instanceID, r.ModuleID, keep.String); err != nil {
			return err
		}
		if keep.Valid {
			_, err = tx.ExecContext(ctx, "UPDATE instance_modules SET updated = ? WHERE id = ?", now, keep.String)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO instance_modules (id, instance_id, module_id, md5, created, updated, deleted, deleted_at)
				VALUES (?, ?, ?, ?, ?, ?, 0, NULL)`, NewID(), instanceID, r.ModuleID, r.MD5, now, now)
		}
		if isForeignKey(err) {
			return fail(ErrNotFound, "Instance %s or module %s could not be found.", instanceID, r.ModuleID)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// InstanceModules lists the modules applied to an instance.
func (d *DB) InstanceModules(ctx context.Context, instanceID string) ([]InstanceModule, error) {
	var out []InstanceModule
	err := d.x.SelectContext(ctx, &out, "SELECT id, instance_id, module_id, md5, created, updated FROM instance_modules WHERE instance_id = ? AND deleted = 0 ORDER BY created, id", instanceID)
	return out, err
}

// RemoveInstanceModule soft-deletes a module's association with an instance; none → ErrNotFound.
func (d *DB) RemoveInstanceModule(ctx context.Context, instanceID, moduleID string) error {
	now := d.now()
	res, err := d.x.ExecContext(ctx, "UPDATE instance_modules SET deleted = 1, deleted_at = ?, updated = ? WHERE instance_id = ? AND module_id = ? AND deleted = 0", now, now, instanceID, moduleID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fail(ErrNotFound, "Module %s is not applied to instance %s.", moduleID, instanceID)
	}
	return nil
}

// ModuleInstances lists the live instances a module is applied to (clustered ones only with includeClustered).
func (d *DB) ModuleInstances(ctx context.Context, moduleID string, includeClustered bool) ([]Instance, error) {
	q := "SELECT " + instanceCols + " FROM instances WHERE deleted = 0 AND id IN (SELECT instance_id FROM instance_modules WHERE module_id = ? AND deleted = 0)"
	if !includeClustered {
		q += " AND cluster_id IS NULL"
	}
	var out []Instance
	err := d.x.SelectContext(ctx, &out, q+" ORDER BY id", moduleID)
	return out, err
}
