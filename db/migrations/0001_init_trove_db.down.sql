DROP TABLE IF EXISTS backup_strategy, instance_faults, instance_modules, modules, datastore_version_metadata,
  datastore_configuration_parameters, security_group_instance_associations, instances, clusters, backups,
  capability_overrides, capabilities, conductor_lastseen, configuration_parameters, configurations,
  datastore_versions, datastores, security_group_rules, security_groups, reservations, quota_usages, quotas,
  usage_events, dns_records, agent_heartbeats, root_enabled_history, service_statuses, service_images,
  alembic_version;
