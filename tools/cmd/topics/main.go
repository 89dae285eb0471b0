// Command topics creates every Kafka topic Farewell needs, as listed by
// kafka.Topics in pkg/kafka. It is idempotent: topics that already exist are
// reported and left alone. The local stack supervisor (tools/cmd/stack) runs
// the same code after the broker is up; this command works against any cluster.
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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/terning-farewell/farewell/pkg/kafka"
	"github.com/terning-farewell/farewell/pkg/localstack"
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
	brokers := fs.String("brokers", envOr("FAREWELL_KAFKA_BROKERS", localstack.KafkaAddr),
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

	admin, err := kafka.ConnectAdmin(ctx, opts.brokers)
	if err != nil {
		return err
	}
	defer admin.Close()

	if opts.list {
		return kafka.ListTopics(admin, out)
	}
	results, err := kafka.EnsureTopics(ctx, admin, kafka.Topics(opts.partitions), opts.replication)
	for _, r := range results {
		fmt.Fprintln(out, r.Line)
	}
	return err
}
