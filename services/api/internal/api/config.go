package api

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/trove-go/trove/pkg/catalog"
	"github.com/trove-go/trove/pkg/config"
	"github.com/trove-go/trove/pkg/taskapi"
)

// Config is trove-api's typed view of trove.conf (Trove's option names).
type Config struct {
	BindHost string
	BindPort int
	CertFile string // [ssl] cert_file
	KeyFile  string // [ssl] key_file

	PublicEndpoint string

	EnableSecureRPC       bool
	TaskmanagerRPCKey     string
	InstRPCKeyEncrKey     string
	MaxAcceptedVolumeSize int64
	Quotas                catalog.Defaults // max_*_per_tenant
	InstancesPageSize     int
	DefaultDatastore      string
	AdminRoles            []string
	Region                string
	HeartbeatExpiry       time.Duration

	// RateLimits per verb per project per minute; nil map = rate limiting off (ours: only when configured).
	RateLimits map[string]int

	HealthcheckDisableFile string
	// MaxBodyBytes bounds request bodies (413 beyond).
	MaxBodyBytes int64
	// DatastoreCacheTTL bounds how stale cached datastore reads may be.
	DatastoreCacheTTL time.Duration
	// InstanceListCacheTTL turns on the per-project instance-list micro-cache (listcache.go); 0 = off, ≤ 1 s.
	InstanceListCacheTTL time.Duration

	Flavors []Flavor // [local_flavors]

	// Backups: [DEFAULT] storage_strategy (recorded as each backup's storage_driver), backup_swift_container
	// (the container when neither the request nor a backup strategy names one), running_backups_expires (days
	// after which a backup stuck running may be deleted).
	StorageStrategy       string
	BackupSwiftContainer  string
	RunningBackupsExpires time.Duration

	// Managers holds the per-datastore-manager sections ([mysql], [mariadb], [postgresql]).
	Managers map[string]ManagerConfig

	// What cmd/trove-api wires, not the handlers.
	DatabaseConnection string        // [database] connection
	TaskmanagerQueue   string        // [DEFAULT] taskmanager_queue
	AgentCallLow       time.Duration // [DEFAULT] agent_call_low_timeout
	AgentCallHigh      time.Duration // [DEFAULT] agent_call_high_timeout
	PprofBind          string        // [DEFAULT] debug_pprof_bind (ours): loopback host:port, "" = off
	RefuseDefaultKeys  bool          // [DEFAULT] refuse_default_keys
}

// ManagerConfig is the part of a [<manager>] section the API uses.
type ManagerConfig struct {
	IgnoreDBs     []string
	IgnoreUsers   []string
	VolumeSupport bool
	// BackupStrategy is Trove's backup_strategy: backups are allowed only when it is set.
	BackupStrategy string
}

// managerDefaults are Trove's option defaults per manager.
var managerDefaults = map[string]ManagerConfig{
	"mysql":      {IgnoreDBs: []string{"mysql", "information_schema", "performance_schema", "sys"}, IgnoreUsers: []string{"os_admin", "root"}, VolumeSupport: true, BackupStrategy: "mariabackup"},
	"mariadb":    {IgnoreDBs: []string{"mysql", "information_schema", "performance_schema", "sys"}, IgnoreUsers: []string{"os_admin", "root"}, VolumeSupport: true, BackupStrategy: "mariabackup"},
	"postgresql": {IgnoreDBs: []string{"os_admin", "postgres"}, IgnoreUsers: []string{"os_admin", "postgres", "root"}, VolumeSupport: true, BackupStrategy: "pg_basebackup"},
}

// manager returns the section for a manager (unknown managers: no ignore lists, volume support on).
func (c Config) manager(name string) ManagerConfig {
	if m, ok := c.Managers[name]; ok {
		return m
	}
	return ManagerConfig{VolumeSupport: true}
}

// ConfigFrom reads the options; conversion errors are reported by file.Err().
func ConfigFrom(file *config.File) (Config, error) {
	c := Config{
		BindHost:               file.String("DEFAULT", "bind_host", "0.0.0.0"),
		BindPort:               file.Int("DEFAULT", "bind_port", 8779),
		CertFile:               file.String("ssl", "cert_file", ""),
		KeyFile:                file.String("ssl", "key_file", ""),
		PublicEndpoint:         file.String("DEFAULT", "public_endpoint", ""),
		EnableSecureRPC:        file.Bool("DEFAULT", "enable_secure_rpc_messaging", true),
		TaskmanagerRPCKey:      file.String("DEFAULT", "taskmanager_rpc_encr_key", "bzH6y0SGmjuoY0FNSTptrhgieGXNDX6PIhvz"),
		InstRPCKeyEncrKey:      file.String("DEFAULT", "inst_rpc_key_encr_key", "emYjgHFqfXNB1NGehAFIUeoyw4V4XwWHEaKP"),
		MaxAcceptedVolumeSize:  int64(file.Int("DEFAULT", "max_accepted_volume_size", 10)),
		Quotas:                 catalog.QuotaDefaultsFrom(file),
		InstancesPageSize:      file.Int("DEFAULT", "instances_page_size", 20),
		StorageStrategy:        file.String("DEFAULT", "storage_strategy", "swift"),
		BackupSwiftContainer:   file.String("DEFAULT", "backup_swift_container", "database_backups"),
		RunningBackupsExpires:  time.Duration(file.Int("DEFAULT", "running_backups_expires", 3)) * 24 * time.Hour,
		DefaultDatastore:       file.String("DEFAULT", "default_datastore", ""),
		AdminRoles:             file.List("DEFAULT", "admin_roles", nil),
		Region:                 file.String("DEFAULT", "region", "LOCAL_DEV"),
		HeartbeatExpiry:        file.Seconds("DEFAULT", "agent_heartbeat_expiry", 90),
		HealthcheckDisableFile: file.String("healthcheck", "disable_by_file_path", "/etc/trove/healthcheck_disable"),
		MaxBodyBytes:           int64(file.Int("oslo_middleware", "max_request_body_size", 1<<20)),
		DatastoreCacheTTL:      file.Seconds("DEFAULT", "datastore_cache_ttl", 5),
		InstanceListCacheTTL:   file.Seconds("DEFAULT", "instance_list_cache_ttl", 0),
		DatabaseConnection:     file.String("database", "connection", ""),
		TaskmanagerQueue:       file.String("DEFAULT", "taskmanager_queue", taskapi.Topic),
		AgentCallLow:           file.Seconds("DEFAULT", "agent_call_low_timeout", 15),
		AgentCallHigh:          file.Seconds("DEFAULT", "agent_call_high_timeout", 60),
		PprofBind:              file.String("DEFAULT", "debug_pprof_bind", ""),
		RefuseDefaultKeys:      file.Bool("DEFAULT", "refuse_default_keys", false),
	}
	for _, verb := range []string{"get", "post", "put", "delete"} {
		key := "http_" + verb + "_rate"
		if file.Has("DEFAULT", key) {
			if c.RateLimits == nil {
				c.RateLimits = map[string]int{}
			}
			c.RateLimits[strings.ToUpper(verb)] = file.Int("DEFAULT", key, 200)
		}
	}
	c.Managers = map[string]ManagerConfig{}
	for name, def := range managerDefaults {
		c.Managers[name] = ManagerConfig{
			IgnoreDBs:      file.List(name, "ignore_dbs", def.IgnoreDBs),
			IgnoreUsers:    file.List(name, "ignore_users", def.IgnoreUsers),
			VolumeSupport:  file.Bool(name, "volume_support", def.VolumeSupport),
			BackupStrategy: file.String(name, "backup_strategy", def.BackupStrategy),
		}
	}
	flavors, err := flavorsFrom(file)
	if err != nil {
		return c, err
	}
	c.Flavors = flavors
	if err := file.Err(); err != nil {
		return c, err
	}
	if c.InstancesPageSize <= 0 {
		return c, fmt.Errorf("[DEFAULT] instances_page_size must be positive, got %d", c.InstancesPageSize)
	}
	if c.InstanceListCacheTTL < 0 || c.InstanceListCacheTTL > maxListCacheTTL {
		return c, fmt.Errorf("[DEFAULT] instance_list_cache_ttl must be between 0 and 1 second, got %s", c.InstanceListCacheTTL)
	}
	if c.MaxBodyBytes <= 0 {
		return c, fmt.Errorf("[oslo_middleware] max_request_body_size must be positive")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return c, fmt.Errorf("[ssl] cert_file and key_file must be set together")
	}
	return c, nil
}

// flavorsFrom reads [local_flavors]: "<id> = <name>,<ram MB>,<vcpus>,<disk GB>".
func flavorsFrom(file *config.File) ([]Flavor, error) {
	ids, err := sectionKeys(file.Sources(), "local_flavors")
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return []Flavor{{ID: "1", Name: "tiny", RAM: 512, VCPUs: 1}, {ID: "2", Name: "small", RAM: 1024, VCPUs: 1}}, nil
	}
	var out []Flavor
	for _, id := range ids {
		v := file.String("local_flavors", id, "")
		parts := strings.Split(v, ",")
		if len(parts) != 4 {
			return nil, fmt.Errorf("[local_flavors] %s = %q: want <name>,<ram MB>,<vcpus>,<disk GB>", id, v)
		}
		nums := make([]int, 3)
		for i, p := range parts[1:] {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || n < 0 {
				return nil, fmt.Errorf("[local_flavors] %s = %q: %q is not a non-negative integer", id, v, p)
			}
			nums[i] = n
		}
		out = append(out, Flavor{ID: id, Name: strings.TrimSpace(parts[0]), RAM: nums[0], VCPUs: nums[1], Disk: nums[2]})
	}
	return out, nil
}

// sectionKeys lists the option names of a section across the files, in first-seen order. pkg/config has no key
// listing; [local_flavors] is the one section whose keys are data.
func sectionKeys(paths []string, section string) ([]string, error) {
	var keys []string
	seen := map[string]bool{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		in := false
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
				in = strings.TrimSpace(line[1:len(line)-1]) == section
				continue
			}
			if !in || line == "" || line[0] == '#' || line[0] == ';' {
				continue
			}
			k, _, ok := strings.Cut(line, "=")
			if k = strings.TrimSpace(k); ok && k != "" && !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}
