package backupstore

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/trove-go/trove/pkg/config"
)

// Defaults.
const (
	DefaultContainer   = "database_backups"
	DefaultSegmentSize = 5 << 30 // Swift's max_file_size is 5 GiB + 2 bytes
	DefaultS3Region    = "us-east-1"
	DefaultS3PartSize  = 64 << 20
	minS3PartSize      = 5 << 20 // S3's smallest part but the last
	maxSwiftSegments   = 1000    // SLO's max_manifest_segments default
)

// FromConfig reads the backup storage options from Trove's config files: [DEFAULT] storage_strategy,
// backup_swift_container, backup_segment_max_size, swift_api_insecure; [backup_s3] endpoint, region, bucket,
// access_key, secret_key, path_style, insecure, part_size; [backup_directory] root.
func FromConfig(f *config.File) (Config, error) {
	c := Config{
		Driver: f.String("DEFAULT", "storage_strategy", DriverSwift),
		Swift: SwiftConfig{
			Container:   f.String("DEFAULT", "backup_swift_container", DefaultContainer),
			SegmentSize: int64(f.Int("DEFAULT", "backup_segment_max_size", DefaultSegmentSize)),
			Insecure:    f.Bool("DEFAULT", "swift_api_insecure", false),
		},
		S3: S3Config{
			Endpoint:  f.String("backup_s3", "endpoint", ""),
			Region:    f.String("backup_s3", "region", DefaultS3Region),
			Bucket:    f.String("backup_s3", "bucket", ""),
			AccessKey: f.String("backup_s3", "access_key", ""),
			SecretKey: f.String("backup_s3", "secret_key", ""),
			PathStyle: f.Bool("backup_s3", "path_style", true),
			Insecure:  f.Bool("backup_s3", "insecure", false),
			PartSize:  int64(f.Int("backup_s3", "part_size", DefaultS3PartSize)),
		},
		Directory: DirectoryConfig{Root: f.String("backup_directory", "root", "")},
	}
	if err := f.Err(); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// Validate fills defaults and checks the selected driver's options; errors name the option to fix.
func (c *Config) Validate() error {
	c.Driver = strings.ToLower(strings.TrimSpace(c.Driver))
	if c.Driver == "" {
		c.Driver = DriverSwift
	}
	switch c.Driver {
	case DriverSwift:
		if c.Swift.Container == "" {
			c.Swift.Container = DefaultContainer
		}
		if c.Swift.SegmentSize == 0 {
			c.Swift.SegmentSize = DefaultSegmentSize
		}
		if c.Swift.SegmentSize < 1 || c.Swift.SegmentSize > DefaultSegmentSize {
			return fmt.Errorf("backupstore: [DEFAULT] backup_segment_max_size = %d: set it between 1 and %d bytes (Swift's largest object)",
				c.Swift.SegmentSize, int64(DefaultSegmentSize))
		}
		if strings.ContainsAny(c.Swift.Container, "/?#") {
			return fmt.Errorf("backupstore: [DEFAULT] backup_swift_container = %q: a container name has no '/', '?' or '#'", c.Swift.Container)
		}
	case DriverS3:
		if c.S3.Region == "" {
			c.S3.Region = DefaultS3Region
		}
		if c.S3.PartSize == 0 {
			c.S3.PartSize = DefaultS3PartSize
		}
		if c.S3.Endpoint == "" {
			return fmt.Errorf("backupstore: storage_strategy = s3 needs [backup_s3] endpoint (e.g. http://127.0.0.1:8080)")
		}
		if c.S3.Bucket == "" {
			return fmt.Errorf("backupstore: storage_strategy = s3 needs [backup_s3] bucket")
		}
		if c.S3.PartSize < minS3PartSize {
			return fmt.Errorf("backupstore: [backup_s3] part_size = %d: set it to at least %d bytes (S3's smallest part)", c.S3.PartSize, minS3PartSize)
		}
	case DriverDirectory:
		if c.Directory.Root == "" || !filepath.IsAbs(c.Directory.Root) {
			return fmt.Errorf("backupstore: storage_strategy = directory needs [backup_directory] root as an absolute path (got %q)", c.Directory.Root)
		}
		c.Directory.Root = filepath.Clean(c.Directory.Root)
	default:
		return fmt.Errorf("backupstore: [DEFAULT] storage_strategy = %q: choose swift, s3 or directory", c.Driver)
	}
	return nil
}

// New returns the Store cfg selects, acting with creds.
func New(cfg Config, creds Credentials) (Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Driver {
	case DriverSwift:
		return newSwift(cfg.Swift, creds)
	case DriverS3:
		return newS3(cfg.S3, creds)
	default:
		return newDirectory(cfg.Directory)
	}
}
