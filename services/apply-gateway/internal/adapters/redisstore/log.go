package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/terning-farewell/farewell/services/apply-gateway/internal/ledger"
)

var _ ledger.Log = (*Redis)(nil)

// Tail returns the decision log's length and last line, read together.
func (r *Redis) Tail(ctx context.Context) (int64, string, error) {
	pipe := r.rdb.TxPipeline()
	n := pipe.LLen(ctx, r.keys.Log)
	last := pipe.LIndex(ctx, r.keys.Log, -1)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, "", fmt.Errorf("read decision log tail: %w", err)
	}
	return n.Val(), last.Val(), nil
}

// Lines returns the log lines with indexes from..to, inclusive.
func (r *Redis) Lines(ctx context.Context, from, to int64) ([]string, error) {
	lines, err := r.rdb.LRange(ctx, r.keys.Log, from, to).Result()
	if err != nil {
		return nil, fmt.Errorf("read decision log: %w", err)
	}
	return lines, nil
}
