package testinfra

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// startContainer starts image with one exposed port and returns host:port,
// or ok=false when no Docker engine answers.
func startContainer(t testing.TB, req testcontainers.ContainerRequest, port string) (addr string, ok bool) {
	t.Helper()
	if !dockerAvailable() {
		return "", false
	}
	ctx := timeout(t)
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true})
	if err != nil {
		t.Fatalf("start %s container: %v", req.Image, err)
	}
	t.Cleanup(func() { _ = testcontainers.TerminateContainer(c) })
	host, err := c.Host(ctx)
	if err != nil {
		t.Fatalf("container host: %v", err)
	}
	mapped, err := c.MappedPort(ctx, port)
	if err != nil {
		t.Fatalf("container port: %v", err)
	}
	return fmt.Sprintf("%s:%s", host, mapped.Port()), true
}

// dockerAvailable reports whether testcontainers can reach a Docker engine.
// It must not panic on a machine with only the docker client installed.
func dockerAvailable() (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return false
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.Health(ctx) == nil
}

func redisContainer(t testing.TB) (string, bool) {
	return startContainer(t, testcontainers.ContainerRequest{
		Image: "redis:7-alpine", ExposedPorts: []string{"6379/tcp"},
		Cmd: []string{"redis-server", "--appendonly", "yes"}, WaitingFor: wait.ForListeningPort("6379/tcp"),
	}, "6379/tcp")
}

func mariadbContainer(t testing.TB) (string, bool) {
	return startContainer(t, testcontainers.ContainerRequest{
		Image: "mariadb:11", ExposedPorts: []string{"3306/tcp"},
		Env: map[string]string{
			"MARIADB_ROOT_PASSWORD": "farewell-root", "MARIADB_USER": "farewell",
			"MARIADB_PASSWORD": "farewell", "MARIADB_DATABASE": "farewell",
		},
		WaitingFor: wait.ForLog("ready for connections").WithOccurrence(2),
	}, "3306/tcp")
}

func mailpitContainer(t testing.TB) (smtp, api string, ok bool) {
	if !dockerAvailable() {
		return "", "", false
	}
	req := testcontainers.ContainerRequest{
		Image: "axllent/mailpit:v1.27", ExposedPorts: []string{"1025/tcp", "8025/tcp"},
		WaitingFor: wait.ForListeningPort("8025/tcp"),
	}
	ctx := timeout(t)
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true})
	if err != nil {
		t.Fatalf("start mailpit container: %v", err)
	}
	t.Cleanup(func() { _ = testcontainers.TerminateContainer(c) })
	host, _ := c.Host(ctx)
	sp, _ := c.MappedPort(ctx, "1025/tcp")
	ap, _ := c.MappedPort(ctx, "8025/tcp")
	return fmt.Sprintf("%s:%s", host, sp.Port()), fmt.Sprintf("http://%s:%s", host, ap.Port()), true
}
