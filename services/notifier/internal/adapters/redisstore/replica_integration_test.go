package redisstore_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/terning-farewell/farewell/pkg/testinfra"
	"github.com/terning-farewell/farewell/services/notifier/internal/adapters/redisstore"
	"github.com/terning-farewell/farewell/services/notifier/internal/delivery"
)

// TestSentMarkerIsOnTheReplicaBeforeMarkSentReturns runs a Redis primary
// and a replica of its own (real redis-server processes) and freezes the
// replica while a "sent" marker is written. MarkSent must return only once
// the replica acknowledged the write, so a Sentinel promoting that replica
// still knows the email went out. Without the wait, MarkSent returned while
// the frozen replica lagged behind (the failover case of the notifier's
// duplicate emails). A replica frozen past the wait leaves the marker on
// the primary and counts it as unreplicated.
func TestSentMarkerIsOnTheReplicaBeforeMarkSentReturns(t *testing.T) {
	testinfra.NeedsStack(t)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (make run installs it)")
	}
	primaryPort, _ := startRedis(t, bin)
	_, replica := startRedis(t, bin, "--replicaof", "127.0.0.1", strconv.Itoa(primaryPort))
	ctx := context.Background()
	primary := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", primaryPort)})
	t.Cleanup(func() { _ = primary.Close() })
	waitLinked(t, primary)
	replicaPid := replica.Process.Pid

	reg := prometheus.NewRegistry()
	m, err := redisstore.NewMarkers(ctx, primary, redisstore.MarkerOptions{Replicas: 1, WaitTimeout: 3 * time.Second, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	job := delivery.Job{Kind: delivery.KindResult, ID: "replica-test-1", To: "a@example.com"}

	// Freeze the replica; thaw it after 300 ms, well inside the wait.
	_, before := replicationOffsets(t, primary)
	if err := syscall.Kill(replicaPid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	thawed := make(chan struct{})
	go func() {
		defer close(thawed)
		time.Sleep(300 * time.Millisecond)
		_ = syscall.Kill(replicaPid, syscall.SIGCONT)
	}()
	err = m.MarkSent(ctx, job)
	acked, _ := replicationOffsets(t, primary)
	<-thawed
	if err != nil {
		t.Fatal(err)
	}
	// The replica's acknowledged offset must cover the write, which starts
	// at the primary's offset before it.
	if acked <= before {
		t.Fatalf("MarkSent returned with the replica's acknowledged offset at %d, not past the marker's write at %d: a failover then forgets the marker", acked, before)
	}
	if n := testinfra.MetricValue(t, reg, "farewell_notifier_sent_markers_unreplicated_total", nil); n != 0 {
		t.Fatalf("unreplicated markers = %v, want 0", n)
	}

	// A replica frozen past the wait: the marker stays on the primary, counted.
	reg2 := prometheus.NewRegistry()
	m2, err := redisstore.NewMarkers(ctx, primary, redisstore.MarkerOptions{Replicas: 1, WaitTimeout: 200 * time.Millisecond, Registerer: reg2})
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(replicaPid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	job2 := delivery.Job{Kind: delivery.KindResult, ID: "replica-test-2", To: "b@example.com"}
	err = m2.MarkSent(ctx, job2)
	_ = syscall.Kill(replicaPid, syscall.SIGCONT)
	if err != nil {
		t.Fatal(err)
	}
	if v := primary.Get(ctx, job2.MarkerKey()).Val(); v != "sent" {
		t.Fatalf("marker on the primary = %q, want sent", v)
	}
	if n := testinfra.MetricValue(t, reg2, "farewell_notifier_sent_markers_unreplicated_total", nil); n != 1 {
		t.Fatalf("unreplicated markers = %v, want 1", n)
	}
}

// startRedis runs a throw-away redis-server (no persistence) on a free
// port with extra arguments and stops it when the test ends.
func startRedis(t *testing.T, bin string, args ...string) (int, *exec.Cmd) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	dir := t.TempDir()
	argv := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log")}, args...)
	cmd := exec.Command(bin, argv...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); c.Ping(context.Background()).Err() != nil; {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("redis-server on %d did not start: %s", port, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return port, cmd
}

var (
	slaveOffset  = regexp.MustCompile(`slave0:.*offset=(\d+)`)
	masterOffset = regexp.MustCompile(`master_repl_offset:(\d+)`)
	slaveOnline  = regexp.MustCompile(`slave0:.*state=online`)
)

// waitLinked waits until the primary sees its replica online.
func waitLinked(t *testing.T, primary *redis.Client) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; {
		info := primary.Info(context.Background(), "replication").Val()
		if slaveOnline.MatchString(info) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica never came online:\n%s", info)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// replicationOffsets are the replica's acknowledged offset and the
// primary's own, as the primary reports them.
func replicationOffsets(t *testing.T, primary *redis.Client) (acked, master int64) {
	t.Helper()
	info := primary.Info(context.Background(), "replication").Val()
	s, m := slaveOffset.FindStringSubmatch(info), masterOffset.FindStringSubmatch(info)
	if s == nil || m == nil {
		t.Fatalf("no replication offsets in:\n%s", info)
	}
	acked, _ = strconv.ParseInt(s[1], 10, 64)
	master, _ = strconv.ParseInt(m[1], 10, 64)
	return acked, master
}
