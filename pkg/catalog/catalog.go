// Package catalog is the one data-access layer over Trove's SQL catalog (MariaDB/MySQL) used by every
// control-plane service; the guest agent never imports it. Row types mirror the tables of catalog.md and are kept
// apart from API views. Every NOT NULL column is written by us (the schema has no server defaults), datetimes are
// naive UTC without fractional seconds, ids are lowercase UUID4 strings.
//
// Expected failures come back as *Error values wrapping a kind (ErrNotFound, ErrBadRequest, ErrConflict,
// ErrAmbiguous) or as *QuotaExceededError; callers test them with errors.Is / errors.As and never see driver
// errors for those cases. The message of an *Error is Trove's text for the same situation.
package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// DB is an open catalog connection pool.
type DB struct {
	x   *sqlx.DB
	cfg *mysql.Config
	// Now returns the current time; tests replace it to control heartbeat ages and timestamps.
	Now func() time.Time

	stmts sync.Map // query text → *sqlx.Stmt (prepared)
}

// prepared returns q prepared once for the pool (database/sql prepares it again on each connection that lacks
// it). For the hottest read, the instance list: MariaDB parses it once per connection and sends rows in the
// binary protocol, which costs both sides less CPU than the text protocol.
func (d *DB) prepared(ctx context.Context, q string) (*sqlx.Stmt, error) {
	if st, ok := d.stmts.Load(q); ok {
		return st.(*sqlx.Stmt), nil
	}
	st, err := d.x.PreparexContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if prev, loaded := d.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sqlx.Stmt), nil
	}
	return st, nil
}

// Open connects to the catalog named by Trove's [database] connection option: an oslo.db URL such as
// mysql+pymysql://trove:pw@127.0.0.1:3306/trove?charset=utf8 (also mysql://, mysql+mysqldb://, and
// ?unix_socket=/path) or, for tests, a go-sql-driver DSN. The pool is bounded; Open pings once so a wrong
// address or password fails here.
func Open(connection string) (*DB, error) {
	cfg, err := ParseConnection(connection)
	if err != nil {
		return nil, err
	}
	x, err := sqlx.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	x.SetMaxOpenConns(20)
	x.SetMaxIdleConns(10)
	x.SetConnMaxLifetime(time.Hour) // oslo.db connection_recycle_time
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := x.PingContext(ctx); err != nil {
		x.Close()
		return nil, fmt.Errorf("catalog: connecting to %s as %s (check [database] connection): %w", cfg.Addr, cfg.User, err)
	}
	return &DB{x: x, cfg: cfg, Now: time.Now}, nil
}

// Close releases the pool.
func (d *DB) Close() error { return d.x.Close() }

// SetMaxOpenConns bounds the pool (oslo.db max_pool_size + max_overflow).
func (d *DB) SetMaxOpenConns(n int) { d.x.SetMaxOpenConns(n) }

// SetMaxIdleConns sets how many idle connections the pool keeps.
func (d *DB) SetMaxIdleConns(n int) { d.x.SetMaxIdleConns(n) }

// ParseConnection converts an oslo.db URL (or a go-sql-driver DSN) into a go-sql-driver configuration with
// parseTime, UTC, utf8mb4 and Trove's TRADITIONAL sql_mode.
func ParseConnection(connection string) (*mysql.Config, error) {
	if strings.TrimSpace(connection) == "" {
		return nil, errors.New("catalog: [database] connection is not set (e.g. mysql+pymysql://trove:PASSWORD@127.0.0.1/trove)")
	}
	var cfg *mysql.Config
	if scheme, _, ok := strings.Cut(connection, "://"); ok {
		switch scheme {
		case "mysql", "mysql+pymysql", "mysql+mysqldb", "mysql+mysqlconnector", "mariadb", "mariadb+pymysql":
		default:
			return nil, fmt.Errorf("catalog: [database] connection scheme %q is not supported (use mysql+pymysql://user:password@host/db)", scheme)
		}
		u, err := url.Parse(connection)
		if err != nil {
			return nil, fmt.Errorf("catalog: [database] connection is not a valid URL: %w", redact(err))
		}
		cfg = mysql.NewConfig()
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
		cfg.DBName = strings.TrimPrefix(u.Path, "/")
		if cfg.DBName == "" {
			return nil, errors.New("catalog: [database] connection names no database (…/trove)")
		}
		q := u.Query()
		if sock := q.Get("unix_socket"); sock != "" {
			cfg.Net, cfg.Addr = "unix", sock
		} else {
			host, port := u.Hostname(), u.Port()
			if host == "" {
				host = "localhost"
			}
			if port == "" {
				port = "3306"
			}
			cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(host, port)
		}
	} else {
		var err error
		cfg, err = mysql.ParseDSN(connection)
		if err != nil {
			return nil, fmt.Errorf("catalog: bad connection string: %w", err)
		}
	}
	cfg.ParseTime = true
	cfg.MultiStatements = false // only the migration connection needs it
	cfg.ClientFoundRows = true  // UPDATE reports matched rows, so "not found" is distinguishable from "unchanged"
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["charset"] = "utf8mb4"
	cfg.Params["sql_mode"] = "'TRADITIONAL'"
	cfg.Params["time_zone"] = "'+00:00'"
	return cfg, nil
}

// redact drops the URL text (it may hold the password) from url.Parse errors.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Error kinds. Test with errors.Is(err, catalog.ErrNotFound) and so on.
var (
	ErrNotFound   = errors.New("not found")
	ErrBadRequest = errors.New("bad request")
	ErrConflict   = errors.New("conflict")
	ErrAmbiguous  = errors.New("ambiguous")
)

// Error is an expected failure: Kind is one of the Err* values, Message the text to show (Trove's wording).
type Error struct {
	Kind    error
	Message string
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// QuotaExceededError lists the resources (sorted) whose hard limit a change would exceed.
type QuotaExceededError struct {
	Resources []string
}

// Error renders Trove's message, including Python's list formatting: Quota exceeded for resources: ['ram'].
func (e *QuotaExceededError) Error() string {
	quoted := make([]string, len(e.Resources))
	for i, r := range e.Resources {
		quoted[i] = "'" + r + "'"
	}
	return "Quota exceeded for resources: [" + strings.Join(quoted, ", ") + "]."
}

// NewID returns a new lowercase UUID4, the form of every id in the catalog.
func NewID() string { return uuid.NewString() }

// now is the current time as the catalog stores it: UTC, whole seconds.
func (d *DB) now() time.Time { return d.Now().UTC().Truncate(time.Second) }

// nullString maps "" to SQL NULL for optional columns (foreign keys must be NULL, never empty strings).
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// inTx runs fn in a transaction, retrying a few times when MariaDB reports a deadlock or lock wait timeout.
func (d *DB) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		err = d.tryTx(ctx, fn)
		if !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
	return err
}

func (d *DB) tryTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := d.x.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func retryable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}

func isDuplicate(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062
}

func isForeignKey(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1452
}

func notFoundIf(err error, kindErr error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return kindErr
	}
	return err
}

// selectPage runs q (a SELECT … WHERE …) with the id-marker pagination of api.md §1.4: rows with id > marker
// ordered by id, at most limit (≤ 0: all); next is the page's last id when more rows follow, else "".
func selectPage[T any](ctx context.Context, d *DB, q string, args []any, limit int, marker string, id func(*T) string) (rows []T, next string, err error) {
	if marker != "" {
		q += " AND id > ?"
		args = append(args, marker)
	}
	q += " ORDER BY id"
	if limit > 0 {
		q += " LIMIT " + strconv.Itoa(limit+1)
	}
	if err := d.x.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, "", err
	}
	if limit > 0 && len(rows) > limit {
		rows = rows[:limit]
		next = id(&rows[limit-1])
	}
	return rows, next, nil
}
