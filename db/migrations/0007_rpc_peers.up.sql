-- Ours (not in Trove; Python Trove ignores it): how each keyed instance talks RPC. envelope 'trove' is Trove's
-- AES-CBC SecureSerializer, 'aead' our authenticated envelope. The previous key stays valid until
-- previous_valid_until while a rotated key reaches the guest. alembic_version stays at Trove's head.
CREATE TABLE rpc_peers (
  instance_id VARCHAR(36) NOT NULL,
  envelope VARCHAR(16) NOT NULL,
  previous_encrypted_key VARCHAR(255) NULL,
  previous_valid_until DATETIME NULL,
  updated DATETIME NOT NULL,
  PRIMARY KEY (instance_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
