-- Trove's alembic revision 906cffda7b29 (init: the merged legacy schema up to sqlalchemy-migrate 048).
-- Column types, NULL-ness, index and constraint names follow trove/db/sqlalchemy/migrations/versions.
-- No server-side defaults: every writer supplies every NOT NULL value (catalog.md §2).

CREATE TABLE alembic_version (
  version_num VARCHAR(32) NOT NULL,
  CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE service_images (
  id VARCHAR(36) NOT NULL,
  service_name VARCHAR(255) NULL,
  image_id VARCHAR(255) NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE service_statuses (
  id VARCHAR(36) NOT NULL,
  instance_id VARCHAR(36) NOT NULL,
  status_id INT NOT NULL,
  status_description VARCHAR(64) NOT NULL,
  updated_at DATETIME NULL,
  PRIMARY KEY (id),
  KEY service_statuses_instance_id (instance_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE root_enabled_history (
  id VARCHAR(36) NOT NULL,
  `user` VARCHAR(255) NULL,
  created DATETIME NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE agent_heartbeats (
  id VARCHAR(36) NOT NULL,
  instance_id VARCHAR(36) NOT NULL,
  guest_agent_version VARCHAR(255) NULL,
  deleted TINYINT(1) NULL,
  deleted_at DATETIME NULL,
  updated_at DATETIME NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY ix_agent_heartbeats_instance_id (instance_id),
  KEY ix_agent_heartbeats_guest_agent_version (guest_agent_version),
  KEY ix_agent_heartbeats_deleted (deleted)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE dns_records (
  name VARCHAR(255) NOT NULL,
  record_id VARCHAR(64) NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE usage_events (
  id VARCHAR(36) NOT NULL,
  instance_name VARCHAR(36) NULL,
  tenant_id VARCHAR(36) NULL,
  nova_instance_id VARCHAR(36) NULL,
  instance_size INT NULL,
  nova_volume_id VARCHAR(36) NULL,
  volume_size INT NULL,
  end_time DATETIME NULL,
  updated DATETIME NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE quotas (
  id VARCHAR(36) NOT NULL,
  created DATETIME NULL,
  updated DATETIME NULL,
  tenant_id VARCHAR(36) NULL,
  resource VARCHAR(255) NOT NULL,
  hard_limit INT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY tenant_id (tenant_id, resource)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE quota_usages (
  id VARCHAR(36) NOT NULL,
  created DATETIME NULL,
  updated DATETIME NULL,
  tenant_id VARCHAR(36) NULL,
  in_use INT NULL,
  reserved INT NULL,
  resource VARCHAR(255) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY tenant_id (tenant_id, resource)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE reservations (
  created DATETIME NULL,
  updated DATETIME NULL,
  id VARCHAR(36) NOT NULL,
  usage_id VARCHAR(36) NULL,
  delta INT NOT NULL,
  status VARCHAR(36) NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE security_groups (
  id VARCHAR(36) NOT NULL,
  name VARCHAR(255) NULL,
  description VARCHAR(255) NULL,
  `user` VARCHAR(255) NULL,
  tenant_id VARCHAR(255) NULL,
  created DATETIME NULL,
  updated DATETIME NULL,
  deleted TINYINT(1) NULL,
  deleted_at DATETIME NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE security_group_rules (
  id VARCHAR(36) NOT NULL,
  group_id VARCHAR(36) NULL,
  parent_group_id VARCHAR(36) NULL,
  protocol VARCHAR(255) NULL,
  from_port INT NULL,
  to_port INT NULL,
  cidr VARCHAR(255) NULL,
  created DATETIME NULL,
  updated DATETIME NULL,
  deleted TINYINT(1) NULL,
  deleted_at DATETIME NULL,
  PRIMARY KEY (id),
  FOREIGN KEY (group_id) REFERENCES security_groups (id) ON DELETE CASCADE ON UPDATE CASCADE,
  FOREIGN KEY (parent_group_id) REFERENCES security_groups (id) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE datastores (
  id VARCHAR(36) NOT NULL,
  name VARCHAR(255) NULL,
  default_version_id VARCHAR(36) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE datastore_versions (
  id VARCHAR(36) NOT NULL,
  datastore_id VARCHAR(36) NULL,
  name VARCHAR(255) NULL,
  image_id VARCHAR(36) NULL,
  packages VARCHAR(511) NULL,
  active TINYINT(1) NOT NULL,
  manager VARCHAR(255) NULL,
  image_tags VARCHAR(255) NULL,
  version VARCHAR(255) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY ds_versions (datastore_id, name, version),
  FOREIGN KEY (datastore_id) REFERENCES datastores (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE configurations (
  id VARCHAR(36) NOT NULL,
  name VARCHAR(64) NOT NULL,
  description VARCHAR(256) NULL,
  tenant_id VARCHAR(36) NOT NULL,
  datastore_version_id VARCHAR(36) NOT NULL,
  deleted TINYINT(1) NOT NULL,
  deleted_at DATETIME NULL,
  created DATETIME NULL,
  updated DATETIME NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE configuration_parameters (
  configuration_id VARCHAR(36) NOT NULL,
  configuration_key VARCHAR(128) NOT NULL,
  configuration_value VARCHAR(128) NULL,
  deleted TINYINT(1) NOT NULL,
  deleted_at DATETIME NULL,
  PRIMARY KEY (configuration_id, configuration_key),
  FOREIGN KEY (configuration_id) REFERENCES configurations (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE conductor_lastseen (
  instance_id VARCHAR(36) NOT NULL,
  method_name VARCHAR(36) NOT NULL,
  sent DOUBLE NULL,
  PRIMARY KEY (instance_id, method_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE capabilities (
  id VARCHAR(36) NOT NULL,
  name VARCHAR(255) NULL,
  description VARCHAR(255) NOT NULL,
  enabled TINYINT(1) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE capability_overrides (
  id VARCHAR(36) NOT NULL,
  datastore_version_id VARCHAR(36) NULL,
  capability_id VARCHAR(36) NULL,
  enabled TINYINT(1) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY idx_datastore_capabilities_enabled (datastore_version_id, capability_id),
  FOREIGN KEY (datastore_version_id) REFERENCES datastore_versions (id),
  FOREIGN KEY (capability_id) REFERENCES capabilities (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE backups (
  id VARCHAR(36) NOT NULL,
  name VARCHAR(255) NOT NULL,
  description VARCHAR(512) NULL,
  location VARCHAR(1024) NULL,
  backup_type VARCHAR(32) NULL,
  size FLOAT NULL,
  tenant_id VARCHAR(36) NULL,
  state VARCHAR(32) NOT NULL,
  instance_id VARCHAR(36) NULL,
  checksum VARCHAR(32) NULL,
  backup_timestamp DATETIME NULL,
  deleted TINYINT(1) NULL,
  created DATETIME NULL,
  updated DATETIME NULL,
  deleted_at DATETIME NULL,
  parent_id VARCHAR(36) NULL,
  datastore_version_id VARCHAR(36) NULL,
  PRIMARY KEY (id),
  KEY backups_instance_id (instance_id),
  KEY backups_deleted (deleted),
  CONSTRAINT backups_ibfk_1 FOREIGN KEY (datastore_version_id) REFERENCES datastore_versions (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE clusters (
  id VARCHAR(36) NOT NULL,
  created DATETIME NOT NULL,
  updated DATETIME NOT NULL,
  name VARCHAR(255) NOT NULL,
  task_id INT NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  datastore_version_id VARCHAR(36) NOT NULL,
  deleted TINYINT(1) NULL,
  deleted_at DATETIME NULL,
  configuration_id VARCHAR(36) NULL,
  PRIMARY KEY (id),
  KEY clusters_tenant_id (tenant_id),
  KEY clusters_deleted (deleted),
  CONSTRAINT clusters_ibfk_1 FOREIGN KEY (datastore_version_id) REFERENCES datastore_versions (id),
  CONSTRAINT clusters_ibfk_2 FOREIGN KEY (configuration_id) REFERENCES configurations (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE instances (
  id VARCHAR(36) NOT NULL,
  created DATETIME NULL,
  updated DATETIME NULL,
  name VARCHAR(255) NULL,
  hostname VARCHAR(255) NULL,
  compute_instance_id VARCHAR(36) NULL,
  task_id INT NULL,
  task_description VARCHAR(255) NULL,
  task_start_time DATETIME NULL,
  volume_id VARCHAR(36) NULL,
  flavor_id VARCHAR(255) NULL,
  volume_size INT NULL,
  tenant_id VARCHAR(36) NULL,
  server_status VARCHAR(64) NULL,
  deleted TINYINT(1) NULL,
  deleted_at DATETIME NULL,
  datastore_version_id VARCHAR(36) NULL,
  configuration_id VARCHAR(36) NULL,
  slave_of_id VARCHAR(36) NULL,
  cluster_id VARCHAR(36) NULL,
  shard_id VARCHAR(36) NULL,
  type VARCHAR(64) NULL,
  region_id VARCHAR(255) NULL,
  encrypted_key VARCHAR(255) NULL,
  access TEXT NULL,
  PRIMARY KEY (id),
  KEY instances_tenant_id (tenant_id),
  KEY instances_deleted (deleted),
  KEY instances_cluster_id (cluster_id),
  CONSTRAINT instances_ibfk_1 FOREIGN KEY (datastore_version_id) REFERENCES datastore_versions (id),
  CONSTRAINT instances_ibfk_2 FOREIGN KEY (configuration_id) REFERENCES configurations (id),
  CONSTRAINT instances_ibfk_3 FOREIGN KEY (slave_of_id) REFERENCES instances (id),
  CONSTRAINT instances_ibfk_4 FOREIGN KEY (cluster_id) REFERENCES clusters (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE security_group_instance_associations (
  id VARCHAR(36) NOT NULL,
  security_group_id VARCHAR(36) NULL,
  instance_id VARCHAR(36) NULL,
  created DATETIME NULL,
  updated DATETIME NULL,
  deleted TINYINT(1) NULL,
  deleted_at DATETIME NULL,
  PRIMARY KEY (id),
  FOREIGN KEY (security_group_id) REFERENCES security_groups (id) ON DELETE CASCADE ON UPDATE CASCADE,
  FOREIGN KEY (instance_id) REFERENCES instances (id) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE datastore_configuration_parameters (
  id VARCHAR(36) NOT NULL,
  name VARCHAR(128) NOT NULL,
  datastore_version_id VARCHAR(36) NOT NULL,
  restart_required TINYINT(1) NOT NULL,
  max_size VARCHAR(40) NULL,
  min_size VARCHAR(40) NULL,
  data_type VARCHAR(128) NOT NULL,
  PRIMARY KEY (id, name, datastore_version_id),
  UNIQUE KEY UQ_datastore_configuration_parameters_datastore_version_id_name (datastore_version_id, name),
  FOREIGN KEY (datastore_version_id) REFERENCES datastore_versions (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE datastore_version_metadata (
  id VARCHAR(36) NOT NULL,
  datastore_version_id VARCHAR(36) NULL,
  `key` VARCHAR(128) NOT NULL,
  value VARCHAR(128) NULL,
  created DATETIME NOT NULL,
  deleted TINYINT(1) NOT NULL,
  deleted_at DATETIME NULL,
  updated_at DATETIME NULL,
  PRIMARY KEY (id),
  UNIQUE KEY UQ_datastore_version_metadata_datastore_version_id_key_value (datastore_version_id, `key`, value),
  FOREIGN KEY (datastore_version_id) REFERENCES datastore_versions (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE modules (
  id VARCHAR(64) NOT NULL,
  name VARCHAR(255) NOT NULL,
  type VARCHAR(255) NOT NULL,
  contents LONGTEXT NOT NULL,
  description VARCHAR(255) NULL,
  tenant_id VARCHAR(64) NULL,
  datastore_id VARCHAR(64) NULL,
  datastore_version_id VARCHAR(64) NULL,
  auto_apply TINYINT(1) NOT NULL,
  visible TINYINT(1) NOT NULL,
  live_update TINYINT(1) NOT NULL,
  md5 VARCHAR(32) NOT NULL,
  created DATETIME NOT NULL,
  updated DATETIME NOT NULL,
  deleted TINYINT(1) NOT NULL,
  deleted_at DATETIME NULL,
  priority_apply TINYINT(1) NOT NULL,
  apply_order INT NOT NULL,
  is_admin TINYINT(1) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY UQ_type_tenant_datastore_datastore_version_name (type, tenant_id, datastore_id, datastore_version_id, name, deleted_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE instance_modules (
  id VARCHAR(64) NOT NULL,
  instance_id VARCHAR(64) NOT NULL,
  module_id VARCHAR(64) NOT NULL,
  md5 VARCHAR(32) NOT NULL,
  created DATETIME NOT NULL,
  updated DATETIME NOT NULL,
  deleted TINYINT(1) NOT NULL,
  deleted_at DATETIME NULL,
  PRIMARY KEY (id),
  FOREIGN KEY (instance_id) REFERENCES instances (id) ON DELETE CASCADE ON UPDATE CASCADE,
  FOREIGN KEY (module_id) REFERENCES modules (id) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE instance_faults (
  id VARCHAR(64) NOT NULL,
  instance_id VARCHAR(64) NOT NULL,
  message VARCHAR(255) NOT NULL,
  details MEDIUMTEXT NOT NULL,
  created DATETIME NOT NULL,
  updated DATETIME NOT NULL,
  deleted TINYINT(1) NOT NULL,
  deleted_at DATETIME NULL,
  PRIMARY KEY (id),
  FOREIGN KEY (instance_id) REFERENCES instances (id) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE backup_strategy (
  id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  instance_id VARCHAR(36) NOT NULL,
  backend VARCHAR(255) NOT NULL,
  swift_container VARCHAR(255) NULL,
  created DATETIME NULL,
  PRIMARY KEY (id),
  UNIQUE KEY UQ_backup_strategy_tenant_id_instance_id (tenant_id, instance_id),
  KEY backup_strategy_tenant_id_instance_id (tenant_id, instance_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT INTO alembic_version (version_num) VALUES ('906cffda7b29');
