// Package testinfra gives integration tests isolated access to the real
// servers: Redis, MySQL/MariaDB, Kafka and Mailpit. It uses the local stack
// (`make run`, addresses overridable with FAREWELL_TEST_* variables); when a
// server is not there and a Docker engine is, it starts a container with
// testcontainers-go instead; when neither exists the test fails and says how
// to start the stack.
package testinfra

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/terning-farewell/farewell/pkg/localstack"
)

// Default addresses: the local stack's (pkg/localstack).
const (
	defaultRedis   = localstack.RedisAddr
	defaultMySQL   = localstack.MySQLServerDSN
	defaultKafka   = localstack.KafkaAddr
	defaultSMTP    = localstack.SMTPAddr
	defaultMailAPI = localstack.MailpitURL
	defaultNginx   = localstack.NginxURL
)

func env(key, def string) string {
	if v := strings.TrimSpace(os.Getenv(key)); v != "" {
		return v
	}
	return def
}

// UniqueName returns a short random name with prefix, for keys, topics,
// databases and emails that must not collide between tests.
func UniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func reachable(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// NeedsStack marks the test as an integration test: under `go test -short`
// (`make test-unit`) it is skipped with a message saying what it needs;
// otherwise it goes on and the server helpers below fail clearly when a
// server is missing.
func NeedsStack(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs the local stack's servers (make run); skipped by -short (make test-unit)")
	}
}

func missing(t testing.TB, what, addr string) {
	t.Helper()
	t.Fatalf("%s is not reachable at %s and no Docker engine is available for testcontainers.\n"+
		"Start the local stack first: `make run` (or run `make test`, which starts it).", what, addr)
}

// NginxURL returns the public entry of the running local stack.
func NginxURL(t testing.TB) string {
	t.Helper()
	NeedsStack(t)
	u := env("FAREWELL_TEST_NGINX_URL", defaultNginx)
	if !reachable(strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")) {
		t.Fatalf("nginx is not reachable at %s: start the local stack with `make run`", u)
	}
	return u
}

func timeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
