package manage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/trove-go/trove/db"
	"github.com/trove-go/trove/pkg/catalog"
)

var versionOpt = arg{"--version", "The version number of the datastore version, e.g. 5.7.30. If not specified, use <datastore_version_name> as default value."}

var repoPathOpt = arg{"--repo_path", "Accepted for compatibility and ignored: the migrations are built into this binary."}

// commands is the subcommand table, in Trove's order.
var commands = []command{
	{
		name: "db_sync", help: "Populate the database structure. Creates the catalog or brings it to the newest schema; a catalog created by Python Trove is adopted at its alembic revision first.",
		options: []arg{repoPathOpt},
		run: func(m *Manager, ctx context.Context, a args) error {
			return m.migrate(ctx, db.Head)
		},
	},
	{
		name: "db_upgrade", help: "Upgrade the database to the specified version. Never downgrades.",
		options: []arg{{"--version", "Target version: a migration number or a Trove alembic revision. Defaults to the latest version."}, repoPathOpt},
		run: func(m *Manager, ctx context.Context, a args) error {
			target := uint(db.Head)
			if v := a.opt("--version"); v != "" {
				t, err := parseTarget(v)
				if err != nil {
					return &UsageError{Msg: err.Error()}
				}
				target = t
			}
			d, err := m.catalog()
			if err != nil {
				return err
			}
			if cur, _, err := d.SchemaVersion(ctx); err != nil {
				return err
			} else if cur > target {
				return fmt.Errorf("the catalog is at version %d, newer than %d: downgrades are not supported", cur, target)
			}
			return m.migrate(ctx, target)
		},
	},
	{
		name: "db_version", help: "Print the catalog's schema version (0 for an empty database).",
		run: func(m *Manager, ctx context.Context, a args) error {
			d, err := m.catalog()
			if err != nil {
				return err
			}
			v, dirty, err := d.SchemaVersion(ctx)
			if err != nil {
				return err
			}
			if dirty {
				return fmt.Errorf("schema version %d is dirty: its migration failed part-way", v)
			}
			fmt.Fprintln(m.Out, v)
			return nil
		},
	},
	{
		name: "datastore_update", help: "Add or update a datastore. If the datastore already exists, the default version will be updated.",
		positionals: []arg{
			{"datastore_name", "Name of the datastore."},
			{"default_version", "Name or ID of an existing datastore version to set as the default. When adding a new datastore, use an empty string."},
		},
		run: func(m *Manager, ctx context.Context, a args) error {
			d, err := m.catalog()
			if err != nil {
				return err
			}
			name := a.pos["datastore_name"]
			if strings.TrimSpace(name) == "" {
				return errors.New("the datastore name must not be empty")
			}
			if _, err := d.UpdateDatastore(ctx, name, a.pos["default_version"]); err != nil {
				return err
			}
			fmt.Fprintf(m.Out, "Datastore '%s' updated.\n", name)
			return nil
		},
	},
	{
		name: "datastore_version_update", help: "Add or update a datastore version. If the datastore version already exists, all values except the datastore name and version will be updated.",
		positionals: []arg{
			{"datastore", "Name of the datastore."},
			{"version_name", "Name of the datastore version."},
			{"manager", "Name of the manager that will administer the datastore version."},
			{"image_id", "ID of the image used to create an instance of the datastore version ('' when --image-tags is used)."},
			{"packages", "Packages required by the datastore version that are installed on the guest image."},
			{"active", "Whether the datastore version is active or not. Accepted values are 0 and 1 (or true and false)."},
		},
		options: []arg{
			{"--image-tags", "List of image tags separated by comma used for getting guest image."},
			{"--version", "The version number of the datastore version, e.g. 5.7.30. If not specified, use <version_name> as default value."},
			{"--registry-ext", "Extension for default datastore managers. Allows the use of custom managers for each of the datastores supported by Trove. Default: Trove's guest manager class for mysql, mariadb and postgresql."},
			{"--repl-strategy", "Extension for default strategy for replication. Allows the use of custom managers for each of the datastores supported by Trove. Default: <replication_namespace>.<replication_strategy> of the manager's section in the configuration."},
		},
		run: (*Manager).versionUpdate,
	},
	{
		name: "db_recreate", help: "Drop the database and recreate it. Every catalog table is dropped (all data is lost), then the schema is created again.",
		options: []arg{repoPathOpt},
		run: func(m *Manager, ctx context.Context, a args) error {
			d, err := m.catalog()
			if err != nil {
				return err
			}
			if err := d.MigrateTo(ctx, 0); err != nil {
				return err
			}
			return m.migrate(ctx, db.Head)
		},
	},
	{
		name: "db_load_datastore_config_parameters", help: "Loads configuration group parameter validation rules for a datastore version into the database. Each parameter of the file is created or updated (parameters not in the file are kept); the whole file is checked first and loaded in one transaction.",
		positionals: []arg{
			{"datastore", "Name of the datastore."},
			{"datastore_version_name", "Name of the datastore version."},
			{"config_file_location", "Fully qualified file path to the configuration group parameter validation rules."},
		},
		options: []arg{versionOpt},
		run:     (*Manager).loadConfigParams,
	},
	{
		name: "db_remove_datastore_config_parameters", help: "Remove configuration group parameter validation rules for a datastore version from the database.",
		positionals: []arg{{"datastore", "Name of the datastore."}, {"datastore_version_name", "Name of the datastore version."}},
		options:     []arg{versionOpt},
		run: func(m *Manager, ctx context.Context, a args) error {
			d, err := m.catalog()
			if err != nil {
				return err
			}
			fmt.Fprintf(m.Out, "Removing config parameters for datastore (%s) version (%s)\n", a.pos["datastore"], a.pos["datastore_version_name"])
			_, v, err := d.FindVersionNumber(ctx, a.pos["datastore"], a.pos["datastore_version_name"], a.opt("--version"))
			if err != nil {
				return err
			}
			_, err = d.DeleteConfigParams(ctx, v.ID)
			return err
		},
	},
	{
		name: "datastore_version_flavor_add", help: "Adds flavor association to a given datastore and datastore version.",
		positionals:    []arg{{"datastore_name", "Name of the datastore."}, {"datastore_version_name", "Name of the datastore version."}, {"flavor_ids", "Comma separated list of flavor ids."}},
		altPositionals: []arg{{"datastore_version_id", "ID of the datastore version."}, {"flavor_ids", "Comma separated list of flavor ids."}},
		options:        []arg{versionOpt},
		run: func(m *Manager, ctx context.Context, a args) error {
			return m.metadata(ctx, a, catalog.MetadataFlavor, true, "flavor_ids")
		},
	},
	{
		name: "datastore_version_flavor_delete", help: "Deletes a flavor associated with a given datastore and datastore version.",
		positionals:    []arg{{"datastore_name", "Name of the datastore."}, {"datastore_version_name", "Name of the datastore version."}, {"flavor_id", "The flavor to be deleted for a given datastore and datastore version."}},
		altPositionals: []arg{{"datastore_version_id", "ID of the datastore version."}, {"flavor_id", "The flavor to be deleted."}},
		options:        []arg{versionOpt},
		run: func(m *Manager, ctx context.Context, a args) error {
			return m.metadata(ctx, a, catalog.MetadataFlavor, false, "flavor_id")
		},
	},
	{
		name: "datastore_version_volume_type_add", help: "Adds volume_type association to a given datastore and datastore version.",
		positionals: []arg{{"datastore_name", "Name of the datastore."}, {"datastore_version_name", "Name of the datastore version."}, {"volume_type_ids", "Comma separated list of volume_type ids."}},
		options:     []arg{versionOpt},
		run: func(m *Manager, ctx context.Context, a args) error {
			return m.metadata(ctx, a, catalog.MetadataVolumeType, true, "volume_type_ids")
		},
	},
	{
		name: "datastore_version_volume_type_delete", help: "Deletes a volume_type associated with a given datastore and datastore version.",
		positionals: []arg{{"datastore_name", "Name of the datastore."}, {"datastore_version_name", "Name of the datastore version."}, {"volume_type_id", "The volume_type to be deleted for a given datastore and datastore version."}},
		options:     []arg{versionOpt},
		run: func(m *Manager, ctx context.Context, a args) error {
			return m.metadata(ctx, a, catalog.MetadataVolumeType, false, "volume_type_id")
		},
	},
	{
		name: "datastore_version_volume_type_list", help: "Lists the volume_types associated with a given datastore and datastore version.",
		positionals: []arg{{"datastore_name", "Name of the datastore."}, {"datastore_version_name", "Name of the datastore version."}},
		options:     []arg{versionOpt},
		run: func(m *Manager, ctx context.Context, a args) error {
			d, err := m.catalog()
			if err != nil {
				return err
			}
			dsName, verName := a.pos["datastore_name"], a.pos["datastore_version_name"]
			_, v, err := d.FindVersionNumber(ctx, dsName, verName, a.opt("--version"))
			if err != nil {
				return err
			}
			types, err := d.VersionVolumeTypes(ctx, v.ID)
			if err != nil {
				return err
			}
			if len(types) == 0 {
				fmt.Fprintf(m.Out, "No Volume Type Associations found for Datastore: %s, Version: %s.\n", dsName, verName)
			}
			for _, vt := range types {
				fmt.Fprintf(m.Out, "Datastore: %s, Version: %s, Volume Type: %s\n", dsName, verName, vt)
			}
			return nil
		},
	},
}

func (m *Manager) migrate(ctx context.Context, target uint) error {
	d, err := m.catalog()
	if err != nil {
		return err
	}
	if err := d.MigrateTo(ctx, target); err != nil {
		return err
	}
	v, _, err := d.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Out, "Catalog schema is at version %d.\n", v)
	return nil
}

func (m *Manager) versionUpdate(ctx context.Context, a args) error {
	d, err := m.catalog()
	if err != nil {
		return err
	}
	active, err := parseActive(a.pos["active"])
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	manager := a.pos["manager"]
	u := catalog.VersionUpdate{
		Datastore: a.pos["datastore"], Name: a.pos["version_name"], Version: a.opt("--version"), Manager: manager,
		ImageID: a.pos["image_id"], Packages: a.pos["packages"], Active: active,
		RegistryExt: a.opt("--registry-ext"), ReplStrategy: a.opt("--repl-strategy"),
	}
	for _, tag := range strings.Split(a.opt("--image-tags"), ",") {
		if tag = strings.TrimSpace(tag); tag != "" {
			u.ImageTags = append(u.ImageTags, tag)
		}
	}
	if u.ImageID == "" && len(u.ImageTags) == 0 {
		return errors.New("give an image id or --image-tags: instances of this version need an image")
	}
	if u.RegistryExt == "" {
		u.RegistryExt = catalog.DefaultRegistryExt(manager)
	}
	if u.ReplStrategy == "" {
		u.ReplStrategy = catalog.DefaultReplStrategy(manager,
			m.conf.String(manager, "replication_namespace", ""), m.conf.String(manager, "replication_strategy", ""))
	}
	if u.RegistryExt == "" || u.ReplStrategy == "" {
		return fmt.Errorf("manager %q has no built-in guest manager class or replication strategy: give --registry-ext and --repl-strategy", manager)
	}
	if _, err := d.UpdateDatastoreVersion(ctx, u); err != nil {
		return err
	}
	number := u.Version
	if number == "" {
		number = u.Name
	}
	fmt.Fprintf(m.Out, "Datastore version '%s(%s)' updated.\n", u.Name, number)
	return nil
}

// metadata adds or deletes flavor / volume-type associations, printing Trove's messages.
func (m *Manager) metadata(ctx context.Context, a args, key string, add bool, valuesArg string) error {
	d, err := m.catalog()
	if err != nil {
		return err
	}
	var v catalog.DatastoreVersion
	dsName, verName := a.pos["datastore_name"], a.pos["datastore_version_name"]
	if a.alt {
		if v, err = d.GetVersion(ctx, a.pos["datastore_version_id"]); err != nil {
			return err
		}
		ds, err := d.GetDatastore(ctx, v.DatastoreID)
		if err != nil {
			return err
		}
		dsName, verName = ds.Name, v.Name
	} else if _, v, err = d.FindVersionNumber(ctx, dsName, verName, a.opt("--version")); err != nil {
		return err
	}
	raw := a.pos[valuesArg]
	noun := "flavor"
	if key == catalog.MetadataVolumeType {
		noun = "volume type"
	}
	if !add {
		if err := d.DeleteVersionMetadata(ctx, v.ID, key, raw); err != nil {
			return err
		}
		fmt.Fprintf(m.Out, "Deleted %s '%s' from '%s' '%s'.\n", noun, raw, dsName, verName)
		return nil
	}
	var values []string
	for _, s := range strings.Split(raw, ",") {
		if s = strings.TrimSpace(s); s != "" {
			values = append(values, s)
		}
	}
	if len(values) == 0 {
		return fmt.Errorf("no %s ids given", noun)
	}
	if err := d.AddVersionMetadata(ctx, v.ID, key, values); err != nil {
		return err
	}
	if key == catalog.MetadataFlavor {
		fmt.Fprintf(m.Out, "Added flavors '%s' to the '%s' '%s'.\n", raw, dsName, verName)
	} else {
		fmt.Fprintf(m.Out, "Added volume type '%s' to the '%s' '%s'.\n", raw, dsName, verName)
	}
	return nil
}

// loadConfigParams is db_load_datastore_config_parameters (LoadValidationRules), with Trove's message.
func (m *Manager) loadConfigParams(ctx context.Context, a args) error {
	d, err := m.catalog()
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Out, "Loading config parameters for datastore (%s) version (%s)\n", a.pos["datastore"], a.pos["datastore_version_name"])
	_, err = LoadValidationRules(ctx, d, a.pos["datastore"], a.pos["datastore_version_name"], a.opt("--version"), a.pos["config_file_location"])
	return err
}
