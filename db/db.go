// Package db holds Trove's catalog schema as golang-migrate migrations for MariaDB/MySQL. Migrations 1–6 mirror
// Trove's alembic revisions one to one (each also stamps alembic_version, so a Python trove-manage sees the
// schema as current); later ones add tables of ours that Trove's reflection-based ORM ignores. pkg/catalog applies
// them (trove-manage db_sync); services only check the version.
package db

import "embed"

// Migrations is the migration source: migrations/NNNN_name.{up,down}.sql.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Head is the newest migration version; binaries refuse to run on a catalog older than this.
const Head = 12

// AlembicHead is Trove's newest alembic revision, stamped in alembic_version at Head.
const AlembicHead = "95418fe2a1c8"

// AlembicRevisions maps each Trove alembic revision to the migration version that produces exactly its schema.
// A catalog created by Python Trove (alembic_version set, no schema_migrations) is adopted at that version.
var AlembicRevisions = map[string]uint{
	"906cffda7b29": 1,
	"5c68b4fb3cd1": 2,
	"cee1bcba3541": 3,
	"7ee6154548a6": 4,
	"f90016d7baf8": 5,
	"95418fe2a1c8": 6,
}

// LegacyVersions maps a sqlalchemy-migrate version (table migrate_version, pre-alembic Trove) to the migration
// version Trove's db_sync stamps for it; other legacy versions must first be upgraded with an older Trove.
var LegacyVersions = map[int]uint{48: 1, 49: 2}
