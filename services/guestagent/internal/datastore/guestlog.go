package datastore

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
)

// Server log files in Layout.Log(): the server's own output (its error log), and the USER logs' files.
const (
	MySQLServerLog    = "mariadbd.log"
	PostgresServerLog = "postgres.log"
)

// GuestLogFile is the file a datastore's log is read from ("" for the guest log: the agent's [DEFAULT]
// log_file, known to the agent only). MySQL's general and slow-query logs are their own files in the log
// directory, its error log the server's output; PostgreSQL writes every statement it logs to its server log,
// so its general log is that file.
func GuestLogFile(l Layout, manager, name string) string {
	switch manager + "/" + name {
	case "mysql/general", "mariadb/general":
		return filepath.Join(l.Log(), "general.log")
	case "mysql/slow_query", "mariadb/slow_query":
		return filepath.Join(l.Log(), "slow_query.log")
	case "mysql/error", "mariadb/error":
		return filepath.Join(l.Log(), MySQLServerLog)
	case "postgresql/general":
		return filepath.Join(l.Log(), PostgresServerLog)
	}
	return ""
}

// GuestLogSettings are the server settings that turn a USER log on (Trove's GUEST_LOG_ENABLE_LABEL values) and
// what sets it off again in the running server: MySQL's variables are set to OFF; PostgreSQL's are dropped
// from the file and the reload returns them to their defaults (off is nil there). longQueryMS is
// [<manager>] guest_log_long_query_time.
func GuestLogSettings(l Layout, manager, name string, longQueryMS int) (on, off map[string]string) {
	file := GuestLogFile(l, manager, name)
	switch manager + "/" + name {
	case "mysql/general", "mariadb/general":
		return map[string]string{"general_log": "ON", "general_log_file": file, "log_output": "FILE"},
			map[string]string{"general_log": "OFF"}
	case "mysql/slow_query", "mariadb/slow_query":
		return map[string]string{"slow_query_log": "ON", "slow_query_log_file": file,
				"long_query_time": strconv.FormatFloat(float64(longQueryMS)/1000, 'f', -1, 64)},
			map[string]string{"slow_query_log": "OFF"}
	case "postgresql/general":
		return map[string]string{"log_statement": "all", "log_min_duration_statement": strconv.Itoa(longQueryMS)}, nil
	}
	return nil, nil
}

// guestLogsPath is <state>/guest_log_settings.json: the settings of the USER logs turned on, by log name.
func guestLogsPath(l Layout) string { return filepath.Join(l.State(), "guest_log_settings.json") }

// EnabledLogs returns the settings of the USER logs turned on (guest_log_action), by log name.
func EnabledLogs(l Layout) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	b, err := os.ReadFile(guestLogsPath(l))
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	return out, json.Unmarshal(b, &out)
}

// SaveEnabledLogs records the USER logs turned on; BaseSettings adds their settings to every configuration
// the managers write, so a restart keeps them.
func SaveEnabledLogs(l Layout, logs map[string]map[string]string) error {
	b, err := json.Marshal(logs)
	if err != nil {
		return err
	}
	return WriteFileAtomic(guestLogsPath(l), b, 0o600)
}

// logSettings is every setting of the logs turned on, merged (an unreadable record adds nothing: the logs
// are then off after a restart, and guest_log_list says so).
func logSettings(l Layout) map[string]string {
	logs, err := EnabledLogs(l)
	out := map[string]string{}
	if err != nil {
		return out
	}
	for _, name := range SortedKeys(logs) {
		for k, v := range logs[name] {
			out[k] = v
		}
	}
	return out
}
