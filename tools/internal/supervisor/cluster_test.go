package supervisor

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/terning-farewell/farewell/pkg/localstack"
)

// Every HA node is a voter of the same three-node quorum, with its own ports
// and data directory, and replicates the internal topics like Farewell's.
func TestHAKafkaPropertiesNameTheQuorum(t *testing.T) {
	p := localstack.NewPaths(t.TempDir())
	s := New(Config{Paths: p, Topology: localstack.HA, Out: &bytes.Buffer{}})
	dirs := map[string]bool{}
	for _, n := range localstack.HA.Kafka {
		path, err := s.writeKafkaProperties(n)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		props := string(raw)
		for _, want := range []string{
			"controller.quorum.voters=1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097",
			"node.id=" + string(rune('0'+n.ID)),
			"listeners=PLAINTEXT://" + n.Addr(),
			"min.insync.replicas=2", "offsets.topic.replication.factor=3", "unclean.leader.election.enable=false",
		} {
			if !strings.Contains(props, want) {
				t.Errorf("%s: no %q in\n%s", n.Name, want, props)
			}
		}
		dirs[s.kafkaNodeDir(n)] = true
	}
	if len(dirs) != 3 {
		t.Errorf("data directories %v, want one per node", dirs)
	}
}

// Starting one topology while another one's processes run is refused; once
// they are gone the switch is recorded.
func TestAdoptTopologyRefusesARunningOtherTopology(t *testing.T) {
	p := localstack.NewPaths(t.TempDir())
	if err := localstack.RecordTopology(p, localstack.HA); err != nil {
		t.Fatal(err)
	}
	// A process whose command name is redis-server stands in for the HA
	// topology's Redis replica.
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	raw, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(t.TempDir(), "redis-server")
	if err := os.WriteFile(fake, raw, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fake, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.WritePid("redis-replica", cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	small := New(Config{Paths: p, Topology: localstack.Small, Out: &bytes.Buffer{}})
	if err := small.adoptTopology(); err == nil || !strings.Contains(err.Error(), "redis-replica") {
		t.Fatalf("small over a running ha Redis replica: %v", err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	// The small Redis holds data from before the ha topology ran: stale.
	aof := filepath.Join(p.Run, "redis", "appendonlydir", "appendonly.aof.1.incr.aof")
	if err := os.MkdirAll(filepath.Dir(aof), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(aof, []byte("*1\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := small.adoptTopology(); err != nil {
		t.Fatalf("after the ha processes stopped: %v", err)
	}
	if _, err := os.Stat(aof); err == nil {
		t.Error("the small Redis kept its data across a switch of topology")
	}
	if got, _ := localstack.RecordedTopology(p); got.Name != "small" {
		t.Fatalf("recorded %q after the switch, want small", got.Name)
	}
}
