package mysqlx

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// WithLock runs fn while holding a MySQL named lock on one pinned connection,
// so two replicas starting together do not migrate at the same time.
func WithLock(ctx context.Context, db *gorm.DB, name string, fn func(*gorm.DB) error) error {
	sqlDB, err := db.DB()
	if err != nil {
		return fmt.Errorf("mysql pool: %w", err)
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("mysql conn: %w", err)
	}
	defer conn.Close()
	var got int
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 60)", name).Scan(&got); err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	if got != 1 {
		return fmt.Errorf("lock %s: not acquired within 60s", name)
	}
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(?)", name) }()
	return fn(db)
}
