// Command topics creates every Kafka topic Farewell needs, as listed by
// kafka.Topics in pkg/kafka. It is idempotent: topics that already exist are
// reported and left alone. The local stack (deploy/local/stack.sh) runs it
// after the broker is up; it works the same against any cluster.
//
// Usage:
//
//	topics [-brokers host:port,...] [-partitions N] [-replication N] [-timeout 60s]
//	topics -list [-brokers host:port,...]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"

	"github.com/terning-farewell/farewell/pkg/kafka"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := realMain(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "topics: %v\n", err)
		os.Exit(1)
	}
}

// options are the command-line settings.
type options struct {
	brokers     []string
	partitions  int32
	replication int16
	timeout     time.Duration
	list        bool
}

func parseOptions(args []string) (options, error) {
	fs := flag.NewFlagSet("topics", flag.ContinueOnError)
	brokers := fs.String("brokers", envOr("FAREWELL_KAFKA_BROKERS", "127.0.0.1:9092"),
		"comma-separated bootstrap brokers (env FAREWELL_KAFKA_BROKERS)")
	defaultPartitions, err := strconv.Atoi(envOr("FAREWELL_APPLICATION_PARTITIONS", "1"))
	if err != nil {
		return options{}, fmt.Errorf("FAREWELL_APPLICATION_PARTITIONS: %w", err)
	}
	partitions := fs.Int("partitions", defaultPartitions,
		"partitions of the applications topic (env FAREWELL_APPLICATION_PARTITIONS); 1 keeps global arrival order")
	replication := fs.Int("replication", 1, "replication factor of every topic")
	timeout := fs.Duration("timeout", 60*time.Second, "how long to wait for the cluster")
	list := fs.Bool("list", false, "only list the topics that exist in the cluster")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	o := options{timeout: *timeout, list: *list}
	for _, b := range strings.Split(*brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			o.brokers = append(o.brokers, b)
		}
	}
	switch {
	case len(o.brokers) == 0:
		return options{}, errors.New("-brokers is empty")
	case *partitions < 1 || *partitions > 1024:
		return options{}, fmt.Errorf("-partitions %d: want 1..1024", *partitions)
	case *replication < 1 || *replication > 16:
		return options{}, fmt.Errorf("-replication %d: want 1..16", *replication)
	}
	o.partitions = int32(*partitions)
	o.replication = int16(*replication)
	return o, nil
}

func envOr(key, fallback string) string {
	if v := strings.TrimSpace(os.Getenv(key)); v != "" {
		return v
	}
	return fallback
}

func realMain(ctx context.Context, args []string, out io.Writer) error {
	opts, err := parseOptions(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()

	admin, err := connectAdmin(ctx, opts.brokers)
	if err != nil {
		return err
	}
	defer admin.Close()

	if opts.list {
		return listTopics(admin, out)
	}
	for _, spec := range kafka.Topics(opts.partitions) {
		line, err := ensureTopic(ctx, admin, spec, opts.replication)
		if err != nil {
			return fmt.Errorf("topic %s: %w", spec.Name, err)
		}
		fmt.Fprintln(out, line)
	}
	return nil
}

// connectAdmin retries until the cluster answers or ctx ends: the broker may
// still be starting when the stack script calls us.
func connectAdmin(ctx context.Context, brokers []string) (sarama.ClusterAdmin, error) {
	cfg := sarama.NewConfig()
	cfg.ClientID = "farewell-topics"
	cfg.Version = sarama.V3_9_0_0
	cfg.Admin.Timeout = 10 * time.Second
	cfg.Net.DialTimeout = 3 * time.Second
	cfg.Metadata.Retry.Max = 1
	for {
		admin, err := sarama.NewClusterAdmin(brokers, cfg)
		if err == nil {
			return admin, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to %s: %w (last error: %v)", strings.Join(brokers, ","), ctx.Err(), err)
		case <-time.After(time.Second):
		}
	}
}

// ensureTopic creates spec if it is missing and returns a one-line report.
// Transient controller errors (a freshly started KRaft node) are retried.
func ensureTopic(ctx context.Context, admin sarama.ClusterAdmin, spec kafka.TopicSpec, replication int16) (string, error) {
	detail := &sarama.TopicDetail{
		NumPartitions:     spec.Partitions,
		ReplicationFactor: replication,
	}
	retention := "default"
	if spec.Retention > 0 {
		ms := strconv.FormatInt(spec.Retention.Milliseconds(), 10)
		detail.ConfigEntries = map[string]*string{"retention.ms": &ms}
		retention = spec.Retention.String()
	}
	for {
		err := admin.CreateTopic(spec.Name, detail, false)
		switch {
		case err == nil:
			return fmt.Sprintf("created  %-36s partitions=%d replication=%d retention=%s",
				spec.Name, spec.Partitions, replication, retention), nil
		case errors.Is(err, sarama.ErrTopicAlreadyExists):
			return describeExisting(admin, spec)
		case !retriable(err):
			return "", err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func retriable(err error) bool {
	return errors.Is(err, sarama.ErrNotController) ||
		errors.Is(err, sarama.ErrRequestTimedOut) ||
		errors.Is(err, sarama.ErrLeaderNotAvailable) ||
		errors.Is(err, sarama.ErrBrokerNotAvailable) ||
		errors.Is(err, sarama.ErrOutOfBrokers) ||
		errors.Is(err, sarama.ErrInvalidReplicationFactor) || // brokers not yet registered
		errors.Is(err, sarama.ErrNotEnoughReplicas) ||
		errors.Is(err, sarama.ErrClosedClient)
}

// describeExisting reports an existing topic and warns when it differs from
// the spec; it never changes it (adding partitions would reshuffle keys).
func describeExisting(admin sarama.ClusterAdmin, spec kafka.TopicSpec) (string, error) {
	metas, err := admin.DescribeTopics([]string{spec.Name})
	if err != nil {
		return "", fmt.Errorf("describe: %w", err)
	}
	if len(metas) != 1 || !errors.Is(metas[0].Err, sarama.ErrNoError) {
		return fmt.Sprintf("exists   %-36s (could not describe)", spec.Name), nil
	}
	got := int32(len(metas[0].Partitions))
	line := fmt.Sprintf("exists   %-36s partitions=%d", spec.Name, got)
	if got != spec.Partitions {
		line += fmt.Sprintf(" (spec wants %d; left unchanged)", spec.Partitions)
	}
	return line, nil
}

// listTopics prints every topic in the cluster, sorted, with its partition count.
func listTopics(admin sarama.ClusterAdmin, out io.Writer) error {
	topics, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	names := make([]string, 0, len(topics))
	for name := range topics {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(out, "%-36s partitions=%d replication=%d\n",
			name, topics[name].NumPartitions, topics[name].ReplicationFactor)
	}
	return nil
}
