package testenv

import (
	"fmt"
	"time"
)

// TimedRows writes the rows 1, 2, 3 into table t (column n) of a PostgreSQL server through sql (a statement
// runner returning its output), 1.5 s apart, switching the WAL after each so its segment is archived; it
// returns a time between the second and the third commit and the last segment switched. Point-in-time
// recovery tests restore to mid and expect exactly rows 1 and 2.
func TimedRows(sql func(stmt string) string) (mid time.Time, lastSegment string) {
	return TimedRowsWith(sql, "SELECT pg_walfile_name(pg_switch_wal())")
}

// TimedRowsWith is TimedRows running switchLog (e.g. MariaDB's FLUSH BINARY LOGS) after each row; it returns
// the last switchLog's output.
func TimedRowsWith(sql func(stmt string) string, switchLog string) (mid time.Time, last string) {
	for n := 1; n <= 3; n++ {
		time.Sleep(1500 * time.Millisecond)
		if n == 3 {
			mid = time.Now()
			time.Sleep(1500 * time.Millisecond)
		}
		sql(fmt.Sprintf("INSERT INTO t (n) VALUES (%d)", n))
		last = sql(switchLog)
	}
	return mid, last
}
