// Package redisx connects to Redis and loads Lua scripts from files once, so
// every later call is a single EVALSHA.
package redisx

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config configures the Redis client: Addr directly, or, when Sentinels
// lists any, the primary that those Sentinels know as MasterName.
type Config struct {
	Addr       string
	Sentinels  []string
	MasterName string
	Password   string
	DB         int
	PoolSize   int
	// BufferBytes sizes each connection's read and write buffers; zero
	// keeps go-redis's default (32 KiB each). Commands and replies larger
	// than the buffer still work (they take more reads and writes).
	BufferBytes int
}

// NewClient returns a client; it does not dial until first use. With
// Sentinels it is go-redis's failover client: it asks the Sentinels for the
// primary, and when they promote a replica it drops its connections and
// follows the new primary by itself.
func NewClient(cfg Config) *redis.Client {
	if len(cfg.Sentinels) > 0 {
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:      cfg.MasterName,
			SentinelAddrs:   cfg.Sentinels,
			Password:        cfg.Password,
			DB:              cfg.DB,
			PoolSize:        cfg.PoolSize,
			ReadBufferSize:  cfg.BufferBytes,
			WriteBufferSize: cfg.BufferBytes,
			DialTimeout:     2 * time.Second,
			ReadTimeout:     2 * time.Second,
			WriteTimeout:    2 * time.Second,
		})
	}
	return redis.NewClient(&redis.Options{
		Addr:            cfg.Addr,
		Password:        cfg.Password,
		DB:              cfg.DB,
		PoolSize:        cfg.PoolSize,
		ReadBufferSize:  cfg.BufferBytes,
		WriteBufferSize: cfg.BufferBytes,
		DialTimeout:     2 * time.Second,
		ReadTimeout:     2 * time.Second,
		WriteTimeout:    2 * time.Second,
	})
}

// Ping reports whether Redis answers.
func Ping(ctx context.Context, rdb redis.UniversalClient) error {
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// LoadScript reads a Lua script from fsys and loads it into Redis. The
// returned script runs with EVALSHA; if Redis lost its script cache (after a
// restart) go-redis falls back to EVAL once, which caches it again.
func LoadScript(ctx context.Context, rdb redis.Scripter, fsys fs.FS, path string) (*redis.Script, error) {
	src, err := fs.ReadFile(fsys, path)
	if err != nil {
		return nil, fmt.Errorf("read lua script %s: %w", path, err)
	}
	s := redis.NewScript(string(src))
	if err := s.Load(ctx, rdb).Err(); err != nil {
		return nil, fmt.Errorf("load lua script %s: %w", path, err)
	}
	return s, nil
}
