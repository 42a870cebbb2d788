// Package backupstore is where backup objects live: one Store interface over Swift (Trove's default), S3 and a
// local directory, chosen by config ([DEFAULT] storage_strategy). Every driver streams: Put never holds a whole
// object in memory or on disk, and an object becomes visible under its name only once it is complete.
package backupstore

import (
	"context"
	"io"
)

// Store is where backup objects live. Implementations stream: Put never buffers a whole object in memory or on disk.
type Store interface {
	// Put streams r into a new object called name (e.g. "<backup_id>.xbstream.gz") and returns where it lives.
	// When r fails, or ctx ends, no object is left under name.
	Put(ctx context.Context, name string, r io.Reader) (Object, error)
	// Open streams the object at location (a URL previously returned by Put).
	Open(ctx context.Context, location string) (io.ReadCloser, error)
	// Delete removes the object at location (and its segments); deleting a missing object is not an error.
	Delete(ctx context.Context, location string) error
}

// Attrs are what an object may carry besides its bytes where the driver has them (Swift): metadata
// (X-Object-Meta-<key>) and an expiry in seconds (X-Delete-After; 0 = none). Other drivers store the bytes
// alone.
type Attrs struct {
	Meta        map[string]string
	DeleteAfter int64
}

// PutAttrs is Put with attrs on drivers that keep them (Swift), plain Put on the others.
func PutAttrs(ctx context.Context, s Store, name string, r io.Reader, attrs Attrs) (Object, error) {
	if p, ok := s.(interface {
		PutAttrs(ctx context.Context, name string, r io.Reader, attrs Attrs) (Object, error)
	}); ok {
		return p.PutAttrs(ctx, name, r, attrs)
	}
	return s.Put(ctx, name, r)
}

// Object is what Put stored.
type Object struct {
	// Location is the URL Trove records in backups.location. swift: the full object URL under the tenant's storage
	// URL (<storage URL>/<container>/<name>); s3: s3://<bucket>/<key>; directory: file:///<abs path>.
	Location string
	// Size is the number of bytes stored.
	Size int64
	// Checksum is what Trove records as backups.checksum and what its guest verifies on restore against the
	// object's ETag. directory and s3: the hex MD5 of the bytes. swift: the object's ETag — the hex MD5 of the bytes
	// for an object stored in one piece, and for a segmented (SLO) object the MD5 of its segments' MD5s
	// concatenated (Swift's SLO ETag, exactly what Trove's guest computes).
	Checksum string
	// MD5 is the hex MD5 of all bytes stored, whatever the driver (for a restore that checks the bytes it read).
	MD5 string
}

// Drivers, as [DEFAULT] storage_strategy names them.
const (
	DriverSwift     = "swift"
	DriverS3        = "s3"
	DriverDirectory = "directory"
)

// Config selects and parametrizes a driver; New(cfg, creds) returns the Store. FromConfig reads it from Trove's
// config files.
type Config struct {
	// Driver is [DEFAULT] storage_strategy: "swift" (default), "s3" or "directory".
	Driver    string
	Swift     SwiftConfig
	S3        S3Config
	Directory DirectoryConfig
}

// SwiftConfig is the swift driver's part of Config. The storage URL and the token are per request (Credentials).
type SwiftConfig struct {
	// Container is [DEFAULT] backup_swift_container (default "database_backups"); segments go to
	// "<Container>_segments". Both are created on first use.
	Container string
	// SegmentSize is [DEFAULT] backup_segment_max_size in bytes (default 5 GiB, Swift's largest single object):
	// objects larger than this are stored as an SLO of segments of this size.
	SegmentSize int64
	// Insecure is [DEFAULT] swift_api_insecure: do not verify the endpoint's TLS certificate.
	Insecure bool
}

// S3Config is the s3 driver's part of Config ([backup_s3] section).
type S3Config struct {
	Endpoint  string // endpoint: http(s)://host:port of the S3 service
	Region    string // region (default "us-east-1")
	Bucket    string // bucket: created on first use
	AccessKey string // access_key (Credentials.AccessKey, when set, wins)
	SecretKey string // secret_key (Credentials.SecretKey, when set, wins)
	PathStyle bool   // path_style: http://host/bucket/key addressing (default true)
	Insecure  bool   // insecure: do not verify the endpoint's TLS certificate
	PartSize  int64  // part_size in bytes (default 64 MiB, at least 5 MiB): one part is held in memory while sent
}

// DirectoryConfig is the directory driver's part of Config ([backup_directory] section).
type DirectoryConfig struct {
	Root string // root: absolute directory holding the objects; locations outside it are refused
}

// Credentials are the caller's, per request. Trove's swift storage acts as the user: the tenant's object-store
// endpoint from the Keystone catalog and the user's token.
type Credentials struct {
	StorageURL string // swift: e.g. http://127.0.0.1:8080/v1/AUTH_<project id>
	Token      string // swift: the user's Keystone token
	AccessKey  string // s3: overrides S3Config.AccessKey when set (e.g. the user's EC2 credentials)
	SecretKey  string // s3: overrides S3Config.SecretKey when set
}
