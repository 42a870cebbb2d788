package policy

// Default rule expressions. Base rules are Trove's; the per-action defaults follow the "secure RBAC" split
// (see the package documentation): writes need member, reads need reader, both inside the owning project.
const (
	ruleAdminOrOwner = "rule:admin_or_owner"
	// RuleProjectMember is the default of every mutating rule whose upstream default is admin_or_owner.
	RuleProjectMember = "(role:admin) or (role:member and project_id:%(tenant)s)"
	// RuleProjectReader is the default of every read rule whose upstream default is admin_or_owner.
	RuleProjectReader = "(role:admin) or (role:reader and project_id:%(tenant)s)"
)

// Rule is one registered policy rule.
type Rule struct {
	Name string
	// Default is what this implementation enforces when no policy file overrides the rule.
	Default string
	// Upstream is Trove's registered default (trove/common/policies), kept for documentation and comparison.
	Upstream string
}

// Defaults lists every rule Trove registers, in Trove's order.
var Defaults = buildDefaults()

func buildDefaults() []Rule {
	rules := []Rule{
		{"context_is_admin", "role:admin", "role:admin"},
		{"admin_or_owner", "rule:admin or project_id:%(tenant)s", "rule:admin or project_id:%(tenant)s"},
		{"admin", "role:admin or is_admin:True", "role:admin or is_admin:True"},
		{"default", ruleAdminOrOwner, ruleAdminOrOwner},
	}
	read := func(names ...string) {
		for _, n := range names {
			rules = append(rules, Rule{n, RuleProjectReader, ruleAdminOrOwner})
		}
	}
	write := func(names ...string) {
		for _, n := range names {
			rules = append(rules, Rule{n, RuleProjectMember, ruleAdminOrOwner})
		}
	}
	same := func(def string, names ...string) {
		for _, n := range names {
			rules = append(rules, Rule{n, def, def})
		}
	}

	write("instance:create", "instance:delete", "instance:force_delete")
	read("instance:index", "instance:detail", "instance:show")
	write("instance:update", "instance:edit", "instance:restart", "instance:resize_volume",
		"instance:resize_flavor", "instance:promote_to_replica_source", "instance:eject_replica_source")
	same("rule:admin", "instance:reset_status")
	read("instance:configuration", "instance:guest_log_list", "instance:backups", "instance:module_list")
	write("instance:module_apply", "instance:module_remove")

	write("instance:extension:root:create", "instance:extension:root:delete")
	read("instance:extension:root:index")
	write("cluster:extension:root:create", "cluster:extension:root:delete")
	read("cluster:extension:root:index")

	write("instance:extension:user:create", "instance:extension:user:delete")
	read("instance:extension:user:index", "instance:extension:user:show")
	write("instance:extension:user:update", "instance:extension:user:update_all")
	write("instance:extension:user_access:update", "instance:extension:user_access:delete")
	read("instance:extension:user_access:index")

	write("instance:extension:database:create", "instance:extension:database:delete")
	read("instance:extension:database:index", "instance:extension:database:show")

	write("cluster:create", "cluster:delete", "cluster:force_delete")
	read("cluster:index", "cluster:show", "cluster:show_instance")
	write("cluster:action")
	same("rule:admin", "cluster:reset-status")

	write("backup:create", "backup:delete")
	read("backup:index", "backup:show")
	same("role:admin", "backup:index:all_projects")

	write("backup_strategy:create", "backup_strategy:delete")
	read("backup_strategy:index")

	write("configuration:create", "configuration:delete")
	read("configuration:index", "configuration:show", "configuration:instances")
	write("configuration:update", "configuration:edit")

	read("configuration-parameter:index", "configuration-parameter:show",
		"configuration-parameter:index_by_version", "configuration-parameter:show_by_version")

	same("", "datastore:index", "datastore:show")
	same("rule:admin", "datastore:delete")
	same("", "datastore:version_show", "datastore:version_show_by_uuid", "datastore:version_index",
		"datastore:list_associated_flavors", "datastore:list_associated_volume_types")

	same("", "flavor:index", "flavor:show")
	read("limits:index")

	write("module:create", "module:delete")
	read("module:index", "module:show", "module:instances")
	write("module:update", "module:reapply")
	return rules
}
