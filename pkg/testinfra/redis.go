package testinfra

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// Redis returns a client for the test's Redis. Tests isolate themselves by
// using keys under a UniqueName prefix (or a unique event id).
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	NeedsStack(t)
	addr := env("FAREWELL_TEST_REDIS_ADDR", defaultRedis)
	if !reachable(addr) {
		var ok bool
		if addr, ok = redisContainer(t); !ok {
			missing(t, "Redis", env("FAREWELL_TEST_REDIS_ADDR", defaultRedis))
		}
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(timeout(t)).Err(); err != nil {
		t.Fatalf("redis ping %s: %v", addr, err)
	}
	return rdb
}

// RedisAddr returns the address Redis() would use (local stack only).
func RedisAddr() string { return env("FAREWELL_TEST_REDIS_ADDR", defaultRedis) }
