// Package replay is the operators' port to the dead-letter topics: the
// `stock-consumer replay` subcommand lists what a dead-letter topic holds
// (key, reason, offset, time) and, when asked to, re-publishes selected
// messages to their original topic with their original key and bytes.
//
// A replay is a dry run unless -execute is given. Within one run every
// original message is published at most once (two dead-letter copies of the
// same message count once). Replaying is safe because the consumers are
// idempotent: an application already decided is decided the same way again
// and changes nothing, an email already sent is skipped by its marker, and
// an admin change older than the recorded one is ignored.
package replay

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	pkgconfig "github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/kafka"
)

// ErrUsage is returned for wrong flags; the message says what is wrong.
var ErrUsage = errors.New("usage")

// Options are the parsed flags of one run.
type Options struct {
	Brokers []string
	// Topics are the dead-letter topics to read (every one of
	// kafka.Topics when none was named).
	Topics    []string
	Selection kafka.ReplaySelection
	// Execute re-publishes; without it the run only lists and says what
	// it would replay.
	Execute bool
	Timeout time.Duration
}

// ParseArgs reads the subcommand's flags; brokers default to
// FAREWELL_KAFKA_BROKERS, as for the service itself.
func ParseArgs(args []string, env *pkgconfig.Env, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: stock-consumer replay [-topic T.dlq] [-all | -key K,... | -offset N,...] [-execute]

Lists the dead-letter topics (every one without -topic): offset, time, key,
source position, attempts and reason of each message. With a selection and
-topic, says what it would re-publish to the original topic; with -execute
too, re-publishes it (original key and bytes, header x-replayed-from) and
waits for each acknowledgement.

`)
		fs.PrintDefaults()
	}
	brokers := fs.String("brokers", strings.Join(env.List("FAREWELL_KAFKA_BROKERS", []string{"127.0.0.1:9092"}), ","), "Kafka brokers, comma-separated (default FAREWELL_KAFKA_BROKERS)")
	topic := fs.String("topic", "", "the dead-letter topic, e.g. "+kafka.DeadLetter(kafka.TopicApplications)+" (default: list every one)")
	all := fs.Bool("all", false, "select every message of -topic")
	keys := fs.String("key", "", "select the messages with these keys (comma-separated)")
	offsets := fs.String("offset", "", "select the messages at these offsets of the dead-letter topic (comma-separated)")
	execute := fs.Bool("execute", false, "re-publish the selection (without it: a dry run)")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return Options{}, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("%w: unexpected arguments %q", ErrUsage, fs.Args())
	}
	o := Options{Execute: *execute, Timeout: *timeout}
	for _, b := range strings.Split(*brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			o.Brokers = append(o.Brokers, b)
		}
	}
	if len(o.Brokers) == 0 {
		return Options{}, fmt.Errorf("%w: no brokers", ErrUsage)
	}
	o.Selection = kafka.ReplaySelection{All: *all, Keys: map[string]bool{}, Offsets: map[int64]bool{}}
	for _, k := range strings.Split(*keys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			o.Selection.Keys[k] = true
		}
	}
	for _, s := range strings.Split(*offsets, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return Options{}, fmt.Errorf("%w: -offset %q is not an offset", ErrUsage, s)
		}
		o.Selection.Offsets[n] = true
	}
	if o.Selection.All && (len(o.Selection.Keys) > 0 || len(o.Selection.Offsets) > 0) {
		return Options{}, fmt.Errorf("%w: -all selects everything; drop -key and -offset", ErrUsage)
	}
	switch {
	case *topic != "":
		if !strings.HasSuffix(*topic, ".dlq") {
			return Options{}, fmt.Errorf("%w: -topic %s is not a dead-letter topic (names end in .dlq)", ErrUsage, *topic)
		}
		o.Topics = []string{*topic}
	case !o.Selection.Empty() || o.Execute:
		return Options{}, fmt.Errorf("%w: a replay needs -topic (one dead-letter topic at a time)", ErrUsage)
	default:
		for _, s := range kafka.Topics(1) {
			if strings.HasSuffix(s.Name, ".dlq") {
				o.Topics = append(o.Topics, s.Name)
			}
		}
	}
	if o.Execute && o.Selection.Empty() {
		return Options{}, fmt.Errorf("%w: -execute needs a selection (-all, -key or -offset)", ErrUsage)
	}
	return o, nil
}

// Run lists the topics and, for a selection, replays it (or says what it
// would replay). It writes its report and progress to out.
func Run(ctx context.Context, o Options, out io.Writer, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	client, err := sarama.NewClient(o.Brokers, kafka.NewSaramaConfig("farewell-replay"))
	if err != nil {
		return fmt.Errorf("connect to kafka %s: %w", strings.Join(o.Brokers, ","), err)
	}
	defer client.Close()
	var selected []kafka.DeadLetterRecord
	for _, topic := range o.Topics {
		recs, err := kafka.ReadDeadLetters(ctx, client, topic)
		if err != nil {
			return err
		}
		list(out, topic, recs)
		selected = append(selected, o.Selection.Select(recs)...)
	}
	if o.Selection.Empty() {
		return nil
	}
	if len(selected) == 0 {
		return fmt.Errorf("the selection matches no message of %s", strings.Join(o.Topics, ", "))
	}
	if !o.Execute {
		fmt.Fprintf(out, "\ndry run: would re-publish %d message(s):\n", len(selected))
		for _, d := range selected {
			fmt.Fprintf(out, "  %s (key %q) → %s\n", d.Position(), d.Key, d.SourceTopic)
		}
		fmt.Fprintln(out, "run again with -execute to re-publish them")
		return nil
	}
	producer, err := kafka.NewProducer(kafka.ProducerConfig{Brokers: o.Brokers, ClientID: "farewell-replay", Retries: 3}, log, prometheus.NewRegistry())
	if err != nil {
		return fmt.Errorf("kafka producer: %w", err)
	}
	n, err := kafka.Replay(ctx, producer, selected, func(done int, d kafka.DeadLetterRecord) {
		fmt.Fprintf(out, "replayed %d/%d: %s (key %q) → %s\n", done, len(selected), d.Position(), d.Key, d.SourceTopic)
	})
	closeErr := producer.Close()
	if err != nil {
		return fmt.Errorf("replayed %d of %d, then: %w", n, len(selected), err)
	}
	if closeErr != nil {
		return fmt.Errorf("close the producer: %w", closeErr)
	}
	fmt.Fprintf(out, "done: %d message(s) re-published; the consumers decide them again (a message decided before changes nothing)\n", n)
	return nil
}

func list(out io.Writer, topic string, recs []kafka.DeadLetterRecord) {
	fmt.Fprintf(out, "%s: %d message(s)\n", topic, len(recs))
	if len(recs) == 0 {
		return
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  OFFSET\tTIME\tKEY\tSOURCE\tATTEMPTS\tREASON")
	for _, d := range recs {
		reason := d.Reason
		if len(reason) > 160 {
			reason = reason[:160] + "…"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", d.Offset, d.Timestamp.UTC().Format(time.RFC3339), printable(d.Key), d.Source(), d.Attempts, reason)
	}
	_ = tw.Flush()
}

// printable keeps a key readable on a terminal whatever bytes it holds.
func printable(key []byte) string {
	s := strconv.Quote(string(key))
	return s[1 : len(s)-1]
}
