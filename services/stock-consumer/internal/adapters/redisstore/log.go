package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/services/stock-consumer/internal/decision"
)

// LogCopy is the Redis copy of the decision log that apply-gateway streams.
type LogCopy struct {
	rdb    redis.UniversalClient
	append *redis.Script
}

var _ decision.LogCopy = (*LogCopy)(nil)

// NewLogCopy loads the append script once.
func NewLogCopy(ctx context.Context, rdb redis.UniversalClient) (*LogCopy, error) {
	s, err := redisx.LoadScript(ctx, rdb, luaFiles, "lua/append_log.lua")
	if err != nil {
		return nil, err
	}
	return &LogCopy{rdb: rdb, append: s}, nil
}

// Length returns how many lines the copy holds.
func (l *LogCopy) Length(ctx context.Context, eventID string) (int64, error) {
	n, err := l.rdb.LLen(ctx, redisx.KeysFor(eventID).Log).Result()
	if err != nil {
		return 0, fmt.Errorf("read log length of %s: %w", eventID, classify(err))
	}
	return n, nil
}

// Append appends lines whose first has sequence number first, unless the
// copy does not end just before it; it returns the copy's length after.
func (l *LogCopy) Append(ctx context.Context, eventID string, first int64, lines []string) (int64, error) {
	args := make([]any, 0, len(lines)+1)
	args = append(args, first)
	for _, line := range lines {
		args = append(args, line)
	}
	n, err := l.append.Run(ctx, l.rdb, []string{redisx.KeysFor(eventID).Log}, args...).Int64()
	if err != nil {
		return 0, fmt.Errorf("append log of %s: %w", eventID, classify(err))
	}
	return n, nil
}
