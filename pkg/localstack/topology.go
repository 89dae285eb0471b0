package localstack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KafkaNode is one KRaft node of a topology: broker and controller at once.
type KafkaNode struct {
	// Name is its component name ("kafka", "kafka-2", …).
	Name string
	// ID is its node.id.
	ID int
	// Port is the broker listener, ControllerPort the controller listener.
	Port, ControllerPort int
}

// Addr is the node's broker address.
func (n KafkaNode) Addr() string { return hostPort(n.Port) }

// RedisNode is one Redis server of a topology.
type RedisNode struct {
	// Name is its component name ("redis", "redis-replica").
	Name string
	Port int
	// Replica is true for a node that starts as a replica of the first.
	Replica bool
}

// Addr is the node's address.
func (n RedisNode) Addr() string { return hostPort(n.Port) }

// Topology is the shape of the local stack's Kafka and Redis: how many
// brokers and Redis servers run, on which ports, and how the topics are
// replicated. The small one is what `make run` starts; the HA one is the
// production shape on one machine (`make run-ha`). MariaDB, Mailpit, nginx
// and the service instances are the same in both, but each topology keeps
// its own database: places in line are Kafka offsets of one cluster, so an
// event's decision log must not continue on another cluster's offsets.
type Topology struct {
	// Name is "small" or "ha", as `stack up -topology` takes it.
	Name string
	// Kafka lists the KRaft nodes; every one is a voter of the quorum.
	Kafka []KafkaNode
	// Redis lists the Redis servers, the initial primary first.
	Redis []RedisNode
	// SentinelPorts are the Sentinels watching Redis (none: the services
	// connect to the primary directly).
	SentinelPorts []int
	// SentinelMaster is the name the Sentinels know the primary by.
	SentinelMaster string
	// SentinelQuorum is how many Sentinels must agree the primary is down.
	SentinelQuorum int
	// Replication is the replication factor of every topic, MinInsync its
	// min.insync.replicas (with acks=all: how many copies an
	// acknowledged message has at least).
	Replication int16
	MinInsync   int
	// KafkaHeap is each broker's -Xmx.
	KafkaHeap string
	// Database is this topology's database in the shared MariaDB.
	Database string
	// DataDir is the directory under .run/ that holds this topology's Kafka
	// and Redis data ("" for the small one: .run/kafka and .run/redis).
	DataDir string
	// MemoryMiB is what the whole local stack of this topology needs on the
	// 2-core, 24 GiB machine: the resident memory of every process measured
	// after a herd and a drain, with the brokers' heaps taken at their -Xmx.
	// It is printed before the stack starts.
	MemoryMiB int
}

// Small is the default topology: one Kafka node (replication 1) and one
// Redis, on the fixed ports.
var Small = Topology{
	Name:        "small",
	Kafka:       []KafkaNode{{Name: "kafka", ID: 1, Port: KafkaPort, ControllerPort: KafkaControllerPort}},
	Redis:       []RedisNode{{Name: "redis", Port: RedisPort}},
	Replication: 1,
	MinInsync:   1,
	KafkaHeap:   "512m",
	Database:    "farewell",
	// Measured 0.7 GiB idle, 0.87 GiB after a 20,000-participant herd and drain.
	MemoryMiB: 1100,
}

// HA is the production shape on one machine: three KRaft nodes (each broker
// and controller, a three-voter quorum), topics with replication 3 and
// min.insync.replicas 2; a Redis primary, one replica and three Sentinels.
var HA = Topology{
	Name: "ha",
	Kafka: []KafkaNode{
		{Name: "kafka", ID: 1, Port: KafkaPort, ControllerPort: KafkaControllerPort},
		{Name: "kafka-2", ID: 2, Port: 9094, ControllerPort: 9095},
		{Name: "kafka-3", ID: 3, Port: 9096, ControllerPort: 9097},
	},
	Redis: []RedisNode{
		{Name: "redis", Port: RedisPort},
		{Name: "redis-replica", Port: 6380, Replica: true},
	},
	SentinelPorts:  []int{26379, 26380, 26381},
	SentinelMaster: "farewell",
	SentinelQuorum: 2,
	Replication:    3,
	MinInsync:      2,
	KafkaHeap:      "384m",
	Database:       "farewell_ha",
	DataDir:        "ha",
	// Measured 1.37 GiB idle, 1.8 GiB at most after the chaos-ha suite and
	// a 20,000-participant herd and drain (the three brokers 1.1-1.4 GiB).
	MemoryMiB: 2400,
}

// Topologies lists every topology by name.
var Topologies = []Topology{Small, HA}

// TopologyNamed returns the topology called name ("" is the small one).
func TopologyNamed(name string) (Topology, error) {
	if name == "" {
		return Small, nil
	}
	for _, t := range Topologies {
		if t.Name == name {
			return t, nil
		}
	}
	return Topology{}, fmt.Errorf("unknown topology %q (want small or ha)", name)
}

// SentinelName is the component name of the i-th Sentinel (0-based).
func SentinelName(i int) string { return fmt.Sprintf("sentinel-%d", i+1) }

// KafkaAddrs are the brokers' addresses, as FAREWELL_KAFKA_BROKERS lists them.
func (t Topology) KafkaAddrs() []string {
	out := make([]string, 0, len(t.Kafka))
	for _, n := range t.Kafka {
		out = append(out, n.Addr())
	}
	return out
}

// SentinelAddrs are the Sentinels' addresses.
func (t Topology) SentinelAddrs() []string {
	out := make([]string, 0, len(t.SentinelPorts))
	for _, p := range t.SentinelPorts {
		out = append(out, hostPort(p))
	}
	return out
}

// Env is the topology's part of the environment file: where the services
// find Kafka and Redis. An empty value removes the setting.
func (t Topology) Env() [][2]string {
	sentinels, master, markerReplicas := "", "", "0"
	if len(t.SentinelPorts) > 0 {
		sentinels, master = strings.Join(t.SentinelAddrs(), ","), t.SentinelMaster
	}
	if len(t.Redis) > 1 {
		// A "sent" marker on a replica before the notifier moves on, so a
		// failover does not forget it (one replica of the primary).
		markerReplicas = "1"
	}
	return [][2]string{
		{"FAREWELL_REDIS_ADDR", t.Redis[0].Addr()},
		{"FAREWELL_REDIS_SENTINELS", sentinels},
		{"FAREWELL_REDIS_MASTER", master},
		{"FAREWELL_NOTIFIER_MARKER_REPLICAS", markerReplicas},
		{"FAREWELL_KAFKA_BROKERS", strings.Join(t.KafkaAddrs(), ",")},
		{"FAREWELL_MYSQL_DSN", MySQLDSNOf(t.Database)},
	}
}

// Infrastructure returns the topology's infrastructure in start order: the
// Redis servers and Sentinels, MariaDB, the Kafka nodes, Mailpit, nginx.
func (t Topology) Infrastructure() []Component {
	var out []Component
	for _, c := range infrastructure {
		switch c.Name {
		case "redis":
			for _, n := range t.Redis {
				out = append(out, Component{Name: n.Name, Comm: c.Comm, Port: n.Port, Infra: true})
			}
			for i, p := range t.SentinelPorts {
				out = append(out, Component{Name: SentinelName(i), Comm: "redis-sentinel", Port: p, Infra: true})
			}
		case "kafka":
			for _, n := range t.Kafka {
				out = append(out, Component{Name: n.Name, Comm: c.Comm, Port: n.Port, Infra: true})
			}
		default:
			out = append(out, c)
		}
	}
	return out
}

// Components returns every component of the topology in start order.
func (t Topology) Components() []Component {
	return append(t.Infrastructure(), Instances()...)
}

// Lookup returns the topology's component called name.
func (t Topology) Lookup(name string) (Component, bool) {
	for _, c := range t.Components() {
		if c.Name == name {
			return c, true
		}
	}
	return Component{}, false
}

// KafkaNodeNamed returns the Kafka node called name.
func (t Topology) KafkaNodeNamed(name string) (KafkaNode, bool) {
	for _, n := range t.Kafka {
		if n.Name == name {
			return n, true
		}
	}
	return KafkaNode{}, false
}

// RedisNodeAt returns the Redis node listening on port.
func (t Topology) RedisNodeAt(port int) (RedisNode, bool) {
	for _, n := range t.Redis {
		if n.Port == port {
			return n, true
		}
	}
	return RedisNode{}, false
}

// TopologyFile records which topology the stack under .run/ runs.
const TopologyFile = ".run/topology"

// RecordedTopology returns the topology recorded under root's .run/ (the
// small one when none is).
func RecordedTopology(p Paths) (Topology, error) {
	raw, err := os.ReadFile(filepath.Join(p.Root, TopologyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Small, nil
	}
	if err != nil {
		return Topology{}, err
	}
	return TopologyNamed(strings.TrimSpace(string(raw)))
}

// RecordTopology records t as the stack's topology.
func RecordTopology(p Paths, t Topology) error {
	if err := os.MkdirAll(p.Run, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(p.Root, TopologyFile), []byte(t.Name+"\n"), 0o644)
}

// SetEnv rewrites the settings kv in the environment file at path: a
// setting already there gets the new value in place, a new one is appended,
// one with an empty value is removed. Other lines are kept as they are.
func SetEnv(path string, kv [][2]string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	want := map[string]string{}
	for _, p := range kv {
		want[p[0]] = p[1]
	}
	done := map[string]bool{}
	var lines []string
	for _, line := range strings.Split(strings.TrimRight(string(raw), "\n"), "\n") {
		k, _, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "export "), "=")
		k = strings.TrimSpace(k)
		if v, set := want[k]; ok && set && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			if v != "" && !done[k] {
				lines = append(lines, k+"='"+v+"'")
			}
			done[k] = true
			continue
		}
		lines = append(lines, line)
	}
	for _, p := range kv {
		if !done[p[0]] && p[1] != "" {
			lines = append(lines, p[0]+"='"+p[1]+"'")
		}
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}
