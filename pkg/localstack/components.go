package localstack

import (
	"fmt"
	"strconv"
	"strings"
)

// Fixed loopback ports of the infrastructure (DESIGN.md, "Local stack").
const (
	RedisPort           = 6379
	MariaDBPort         = 3306
	KafkaPort           = 9092
	KafkaControllerPort = 9093
	SMTPPort            = 1025
	MailpitPort         = 8025
	NginxPort           = 8080
	// BarePort is the first port of the load test's bare handlers (make
	// bench): one per apply-gateway instance, on consecutive ports.
	BarePort = 8090
)

// Host is the only interface the local stack listens on.
const Host = "127.0.0.1"

// Addresses of the running local stack, as clients reach them (the ports
// above on Host).
const (
	RedisAddr   = "127.0.0.1:6379"
	KafkaAddr   = "127.0.0.1:9092"
	SMTPAddr    = "127.0.0.1:1025"
	MailpitURL  = "http://127.0.0.1:8025"
	NginxURL    = "http://127.0.0.1:8080"
	MariaDBAddr = "127.0.0.1:3306"
	// MySQLServerDSN is the farewell user on the server, without a database.
	MySQLServerDSN = "farewell:farewell@tcp(127.0.0.1:3306)/"
	// MySQLDSN is what the services of the small topology use: the
	// farewell database (see Topology.Database).
	MySQLDSN = "farewell:farewell@tcp(127.0.0.1:3306)/farewell?parseTime=true&multiStatements=true"
)

// MySQLDSNOf is the services' DSN for one database of the local MariaDB.
func MySQLDSNOf(database string) string {
	return MySQLServerDSN + database + "?parseTime=true&multiStatements=true"
}

func hostPort(port int) string { return Host + ":" + strconv.Itoa(port) }

// Services returns the four Go services, in the order they are built.
func Services() []string {
	out := make([]string, 0, len(instances))
	for _, s := range instances {
		out = append(out, s.service)
	}
	return out
}

// instances is the service topology: how many instances of each service run,
// and on which ports. Changing the topology is a change of this table only;
// nginx's upstreams follow it.
var instances = []struct {
	service string
	ports   []int
}{
	{"auth", []int{8081, 8082}},
	{"apply-gateway", []int{8083, 8084}},
	{"stock-consumer", []int{8085, 8087}},
	{"notifier", []int{8086, 8088}},
}

// Component is one process of the local stack, recorded in
// .run/pids/<Name>.pid.
type Component struct {
	// Name is the component's name: "redis", …, or an instance "auth-1".
	Name string
	// Comm is the kernel's command name (/proc/<pid>/comm) of its process,
	// so a recycled pid that now belongs to another program is never taken
	// for ours, nor signalled.
	Comm string
	// Port is the port its readiness is checked on.
	Port int
	// Infra is true for Redis, MariaDB, Kafka, Mailpit and nginx.
	Infra bool
	// Service is the Go service (and binary in .run/bin) of an instance;
	// empty for infrastructure.
	Service string
	// Background is true for work no HTTP answer waits for: the
	// notifiers and Mailpit (the stand-in for an external SMTP server).
	// The stack runs it at a lower CPU priority (LowerPriority), so on a
	// small machine the e-mails of a herd wait for idle CPU instead of
	// taking it from the answers.
	Background bool
}

// Addr is the component's loopback address.
func (c Component) Addr() string { return hostPort(c.Port) }

// infrastructure in start order; Stop goes in reverse.
var infrastructure = []Component{
	{Name: "redis", Comm: "redis-server", Port: RedisPort, Infra: true},
	{Name: "mariadb", Comm: "mariadbd", Port: MariaDBPort, Infra: true},
	{Name: "kafka", Comm: "java", Port: KafkaPort, Infra: true},
	{Name: "mailpit", Comm: "mailpit", Port: MailpitPort, Infra: true, Background: true},
	{Name: "nginx", Comm: "nginx", Port: NginxPort, Infra: true},
}

// Components returns every component in start order: the infrastructure,
// then the service instances.
func Components() []Component {
	out := append([]Component(nil), infrastructure...)
	return append(out, Instances()...)
}

// Infrastructure returns Redis, MariaDB, Kafka, Mailpit and nginx in start order.
func Infrastructure() []Component { return append([]Component(nil), infrastructure...) }

// Instances returns the service instances in start order ("auth-1", …).
func Instances() []Component {
	var out []Component
	for _, s := range instances {
		for i, port := range s.ports {
			out = append(out, Component{
				Name:       fmt.Sprintf("%s-%d", s.service, i+1),
				Comm:       s.service,
				Port:       port,
				Service:    s.service,
				Background: s.service == "notifier",
			})
		}
	}
	return out
}

// InstancesOf returns the instances of one service.
func InstancesOf(service string) []Component {
	var out []Component
	for _, c := range Instances() {
		if c.Service == service {
			out = append(out, c)
		}
	}
	return out
}

// Lookup returns the component called name.
func Lookup(name string) (Component, bool) {
	for _, c := range Components() {
		if c.Name == name {
			return c, true
		}
	}
	return Component{}, false
}

// ServiceOf returns the service of an instance name ("auth-2" → "auth"),
// or "" when name is not an instance of a known service.
func ServiceOf(name string) string {
	for _, s := range Services() {
		if rest, ok := strings.CutPrefix(name, s+"-"); ok {
			if _, err := strconv.Atoi(rest); err == nil {
				return s
			}
		}
	}
	return ""
}
