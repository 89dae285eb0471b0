package mysqlx_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"testing/fstest"

	"github.com/terning-farewell/farewell/pkg/mysqlx"
	"github.com/terning-farewell/farewell/pkg/testinfra"
)

func TestMigrationsApplyOnceInOrder(t *testing.T) {
	ctx := context.Background()
	db, err := mysqlx.Open(ctx, mysqlx.Config{DSN: testinfra.MySQLDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mysqlx.Close(db) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fsys := fstest.MapFS{
		"m/0002_add_column.sql": {Data: []byte("-- a comment\nALTER TABLE t ADD COLUMN b INT NOT NULL DEFAULT 7;\n")},
		"m/0001_create.sql":     {Data: []byte("CREATE TABLE t (a INT PRIMARY KEY);\nINSERT INTO t (a) VALUES (1);\n")},
	}
	ms, err := mysqlx.LoadMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].Version != 1 || ms[1].Version != 2 {
		t.Fatalf("order = %+v", ms)
	}
	n, err := mysqlx.Migrate(ctx, db, ms, log)
	if err != nil || n != 2 {
		t.Fatalf("first migrate = %d, %v", n, err)
	}
	n, err = mysqlx.Migrate(ctx, db, ms, log)
	if err != nil || n != 0 {
		t.Fatalf("second migrate = %d, %v (must be a no-op)", n, err)
	}
	var b int
	if err := db.Raw("SELECT b FROM t WHERE a = 1").Scan(&b).Error; err != nil || b != 7 {
		t.Fatalf("schema not applied: b=%d err=%v", b, err)
	}
	var versions []int
	db.Raw("SELECT version FROM schema_migrations ORDER BY version").Scan(&versions)
	if len(versions) != 2 {
		t.Fatalf("recorded versions = %v", versions)
	}
}

func TestLoadMigrationsRefusesBadNames(t *testing.T) {
	t.Parallel()
	for name, fsys := range map[string]fstest.MapFS{
		"no number": {"m/create.sql": {Data: []byte("SELECT 1;")}},
		"duplicate": {"m/0001_a.sql": {Data: []byte("SELECT 1;")}, "m/001_b.sql": {Data: []byte("SELECT 1;")}},
	} {
		if _, err := mysqlx.LoadMigrations(fsys, "m"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
