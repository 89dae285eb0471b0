package testinfra

import (
	"database/sql"
	"strings"
	"testing"

	// The MySQL driver registers itself for database/sql.
	_ "github.com/go-sql-driver/mysql"

	"github.com/terning-farewell/farewell/pkg/localstack"
)

// MySQLDatabase creates an empty database for this test and returns its DSN
// (parseTime on). The database is dropped when the test ends.
func MySQLDatabase(t testing.TB) string {
	t.Helper()
	NeedsStack(t)
	base := env("FAREWELL_TEST_MYSQL_DSN", defaultMySQL)
	addr := dsnAddr(base)
	if !reachable(addr) {
		caddr, ok := mariadbContainer(t)
		if !ok {
			missing(t, "MySQL/MariaDB", addr)
		}
		base = "farewell:farewell@tcp(" + caddr + ")/"
	}
	name := UniqueName("farewell_t_")
	admin, err := sql.Open("mysql", base)
	if err != nil {
		t.Fatalf("open mysql: %v", err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	ctx := timeout(t)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v (the user needs CREATE privileges; `make run` sets that up)", name, err)
	}
	t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS " + name) })
	return strings.TrimSuffix(base, "/") + "/" + name + "?parseTime=true"
}

func dsnAddr(dsn string) string {
	_, rest, ok := strings.Cut(dsn, "tcp(")
	if !ok {
		return localstack.MariaDBAddr
	}
	addr, _, _ := strings.Cut(rest, ")")
	return addr
}
