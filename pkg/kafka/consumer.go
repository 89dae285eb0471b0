package kafka

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
)

// Header keys set on dead-lettered messages.
const (
	HeaderDLQReason    = "x-dlq-reason"
	HeaderDLQAttempts  = "x-dlq-attempts"
	HeaderDLQTopic     = "x-dlq-source-topic"
	HeaderDLQPartition = "x-dlq-source-partition"
	HeaderDLQOffset    = "x-dlq-source-offset"
	HeaderDLQFailedAt  = "x-dlq-failed-at"
)

// Poison is a message the handler can never process; it goes to the
// dead-letter topic with Reason and the batch moves on.
type Poison struct {
	Msg      *sarama.ConsumerMessage
	Reason   string
	Attempts int
}

// BatchHandler processes a batch of messages from one partition, in order.
// It returns the messages that are poison; a non-nil error means the whole
// batch failed and will be retried (see GroupConfig.MaxAttempts for how a
// failure that repeats is isolated). Handlers must be safe to run twice for
// the same batch, and should mark the failures of a server being down with
// Unavailable.
type BatchHandler interface {
	HandleBatch(ctx context.Context, msgs []*sarama.ConsumerMessage) ([]Poison, error)
}

// DeadLetterRecorder is implemented by a BatchHandler that acts on the
// messages it could not handle once they are dead-lettered: stock-consumer
// decides what can still be decided of a poison application, so nobody is
// left PENDING. The group calls it after the dead-letter topic acknowledged
// the messages and before their offsets are marked. A failure of a server
// being down is retried until it succeeds; any other is logged and the
// partition moves on (the messages are in the dead-letter topic).
type DeadLetterRecorder interface {
	RecordDeadLetters(ctx context.Context, poison []Poison) error
}

// GroupConfig configures a consumer group.
type GroupConfig struct {
	Brokers  []string
	GroupID  string
	Topics   []string
	ClientID string
	// MaxBatch caps how many buffered messages one HandleBatch call receives.
	MaxBatch int
	// RetryBackoff is the first pause after a failed batch; it doubles up to
	// MaxRetryBackoff. Temporary failures are retried until they succeed or
	// the partition is revoked: nothing is skipped silently.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	// MaxAttempts, when positive, bounds the attempts of a batch whose
	// failure is not a server being down (IsUnavailable is false: say, MySQL
	// refusing a value). After MaxAttempts such failures the batch is
	// retried in halves, in order, until the message that fails alone is
	// found; it is dead-lettered with the error as its reason and the rest
	// moves on. Failures of a server being down are retried without bound.
	// Zero retries every failure without bound.
	MaxAttempts int
}

// unavailableError marks a failure caused by a server being down.
type unavailableError struct{ err error }

func (e unavailableError) Error() string { return e.err.Error() }
func (e unavailableError) Unwrap() error { return e.err }

// Unavailable marks err as a server being down (connection refused, timeout,
// a broker without a leader): the group retries it without bound instead of
// dead-lettering the batch.
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	return unavailableError{err: err}
}

// IsUnavailable reports whether err is a server being down: marked with
// Unavailable, a deadline, a network or connection error, or a connection the
// database driver gave up on. Anything else is taken to fail the same way
// every time.
func IsUnavailable(err error) bool {
	var marked unavailableError
	var netErr net.Error
	var errno syscall.Errno
	switch {
	case err == nil:
		return false
	case errors.As(err, &marked), errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, driver.ErrBadConn),
		errors.Is(err, net.ErrClosed), errors.Is(err, sarama.ErrOutOfBrokers), errors.Is(err, sarama.ErrNotConnected):
		return true
	case errors.As(err, &errno):
		return errno == syscall.ECONNREFUSED || errno == syscall.ECONNRESET || errno == syscall.EPIPE ||
			errno == syscall.ETIMEDOUT || errno == syscall.EHOSTUNREACH || errno == syscall.ENETUNREACH
	}
	return false
}

// Group runs a consumer group and owns its goroutines.
type Group struct {
	cfg     GroupConfig
	group   sarama.ConsumerGroup
	client  sarama.Client
	handler BatchHandler
	dlq     *Producer
	log     *slog.Logger
	metrics *groupMetrics
	// claims is this member's current assignment (topic → partitions),
	// set when a generation starts and cleared when it ends.
	claimsMu sync.Mutex
	claims   map[string][]int32
}

type groupMetrics struct {
	batchSize  *prometheus.HistogramVec
	consumed   *prometheus.CounterVec
	failures   *prometheus.CounterVec
	deadLetter *prometheus.CounterVec
	lag        *prometheus.GaugeVec
	position   *prometheus.GaugeVec
}

// NewGroup connects a consumer group. dlq publishes dead-lettered messages.
func NewGroup(cfg GroupConfig, handler BatchHandler, dlq *Producer, log *slog.Logger, reg prometheus.Registerer) (*Group, error) {
	if len(cfg.Brokers) == 0 || cfg.GroupID == "" || len(cfg.Topics) == 0 {
		return nil, errors.New("kafka group: brokers, group id and topics are required")
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 500
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 100 * time.Millisecond
	}
	if cfg.MaxRetryBackoff < cfg.RetryBackoff {
		cfg.MaxRetryBackoff = 5 * time.Second
	}
	sc := NewSaramaConfig(cfg.ClientID)
	sc.Consumer.Return.Errors = true
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Offsets.AutoCommit.Enable = true
	sc.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRoundRobin()}
	sc.Consumer.Fetch.Default = 4 << 20
	sc.Consumer.MaxWaitTime = 100 * time.Millisecond
	sc.ChannelBufferSize = max(cfg.MaxBatch, 256)

	client, err := sarama.NewClient(cfg.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafka group %s: connect: %w", cfg.GroupID, err)
	}
	group, err := sarama.NewConsumerGroupFromClient(cfg.GroupID, client)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("kafka group %s: %w", cfg.GroupID, err)
	}
	m, err := newGroupMetrics(reg, cfg.GroupID)
	if err != nil {
		_ = group.Close()
		_ = client.Close()
		return nil, err
	}
	return &Group{cfg: cfg, group: group, client: client, handler: handler, dlq: dlq, log: log, metrics: m}, nil
}

func newGroupMetrics(reg prometheus.Registerer, groupID string) (*groupMetrics, error) {
	labels := prometheus.Labels{"group": groupID}
	m := &groupMetrics{
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "farewell_kafka_consumer_batch_size", Help: "Messages per handled batch.",
			ConstLabels: labels, Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500},
		}, []string{"topic"}),
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "farewell_kafka_consumed_total", Help: "Messages handled and marked.", ConstLabels: labels,
		}, []string{"topic"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "farewell_kafka_batch_failures_total", ConstLabels: labels,
			Help: "Failed batch attempts (each retry counts); reason is unavailable (a server down) or rejected (fails the same way: bounded, then isolated).",
		}, []string{"topic", "reason"}),
		deadLetter: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "farewell_kafka_dead_lettered_total", Help: "Messages sent to a dead-letter topic.", ConstLabels: labels,
		}, []string{"topic"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "farewell_kafka_consumer_lag", ConstLabels: labels,
			Help: "Messages not handled yet, up to the partition's high-water mark; updated on every batch attempt, failed or not.",
		}, []string{"topic", "partition"}),
		position: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "farewell_kafka_consumer_position", ConstLabels: labels,
			Help: "Offset of the next message to handle; it stops moving while a batch keeps failing.",
		}, []string{"topic", "partition"}),
	}
	for _, c := range []prometheus.Collector{m.batchSize, m.consumed, m.failures, m.deadLetter, m.lag, m.position} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("kafka group %s: register metrics: %w", groupID, err)
		}
	}
	return m, nil
}

// Run consumes until ctx is cancelled. Consume returns at every rebalance, so
// it is called in a loop; the error channel is drained alongside.
func (g *Group) Run(ctx context.Context) error {
	errsDone := make(chan struct{})
	go func() {
		defer close(errsDone)
		for err := range g.group.Errors() {
			g.log.Warn("kafka consumer error", "group", g.cfg.GroupID, "err", err)
		}
	}()
	defer func() {
		_ = g.group.Close()
		<-errsDone
		_ = g.client.Close()
	}()
	h := &claimHandler{g: g}
	for {
		if err := g.group.Consume(ctx, g.cfg.Topics, h); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				return nil
			}
			g.log.Warn("kafka consume returned an error; retrying", "group", g.cfg.GroupID, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// Ping reports whether a broker answers a metadata request.
func (g *Group) Ping(ctx context.Context) error { return pingClient(ctx, g.client) }

// Owns reports whether this member has at least one partition of topic
// assigned in the current generation of the group. A member without any
// (more members than partitions, or between two generations) must not act
// on the topic's behalf.
func (g *Group) Owns(topic string) bool {
	g.claimsMu.Lock()
	defer g.claimsMu.Unlock()
	return len(g.claims[topic]) > 0
}

func (g *Group) setClaims(claims map[string][]int32) {
	g.claimsMu.Lock()
	defer g.claimsMu.Unlock()
	g.claims = claims
}

type claimHandler struct{ g *Group }

// Setup records the generation's assignment (sarama calls it before any
// ConsumeClaim of the generation); Cleanup forgets it once every
// ConsumeClaim returned.
func (h *claimHandler) Setup(sess sarama.ConsumerGroupSession) error {
	h.g.setClaims(sess.Claims())
	return nil
}

func (h *claimHandler) Cleanup(sarama.ConsumerGroupSession) error {
	h.g.setClaims(nil)
	return nil
}

// ConsumeClaim collects whatever is already buffered into one batch, so a
// busy partition is handled in large batches and a quiet one without delay.
func (h *claimHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	g := h.g
	ctx := sess.Context()
	partition := strconv.Itoa(int(claim.Partition()))
	batch := make([]*sarama.ConsumerMessage, 0, g.cfg.MaxBatch)
	for {
		batch = batch[:0]
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			batch = append(batch, msg)
		case <-ctx.Done():
			return nil
		}
	fill:
		for len(batch) < g.cfg.MaxBatch {
			select {
			case msg, ok := <-claim.Messages():
				if !ok {
					break fill
				}
				batch = append(batch, msg)
			default:
				break fill
			}
		}
		p := partitionState{topic: claim.Topic(), partition: partition, hwm: claim.HighWaterMarkOffset}
		g.metrics.position.WithLabelValues(p.topic, partition).Set(float64(batch[0].Offset))
		if err := g.processBatch(ctx, batch, p); err != nil {
			// Only a revoked partition or shutdown ends processing early; the
			// batch was not marked and will be delivered again.
			return nil
		}
		last := batch[len(batch)-1]
		sess.MarkMessage(last, "")
		g.metrics.consumed.WithLabelValues(claim.Topic()).Add(float64(len(batch)))
		g.metrics.batchSize.WithLabelValues(claim.Topic()).Observe(float64(len(batch)))
		g.metrics.position.WithLabelValues(p.topic, partition).Set(float64(last.Offset + 1))
		g.metrics.lag.WithLabelValues(claim.Topic(), partition).Set(float64(max(claim.HighWaterMarkOffset()-last.Offset-1, 0)))
	}
}

// partitionState names a claim for the metrics of its attempts.
type partitionState struct {
	topic, partition string
	hwm              func() int64
}

// processBatch handles the batch (isolating a message that keeps failing),
// then dead-letters the poison. It returns an error only when ctx ends first.
func (g *Group) processBatch(ctx context.Context, batch []*sarama.ConsumerMessage, p partitionState) error {
	poison, err := g.handle(ctx, batch, p)
	if err != nil {
		return err
	}
	if err := g.deadLetter(ctx, poison); err != nil {
		return err
	}
	return g.recordDeadLetters(ctx, poison)
}

// recordDeadLetters hands the dead-lettered messages back to the handler
// when it records them (DeadLetterRecorder), retrying while a server is
// down. It returns an error only when ctx ends first.
func (g *Group) recordDeadLetters(ctx context.Context, poison []Poison) error {
	recorder, ok := g.handler.(DeadLetterRecorder)
	if !ok || len(poison) == 0 {
		return nil
	}
	backoff := g.cfg.RetryBackoff
	for {
		err := recorder.RecordDeadLetters(ctx, poison)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !IsUnavailable(err) {
			g.log.Error("dead-lettered messages could not be recorded; they wait in the dead-letter topic for a replay",
				"group", g.cfg.GroupID, "topic", poison[0].Msg.Topic, "messages", len(poison), "err", err)
			return nil
		}
		g.log.Warn("recording dead-lettered messages failed; retrying", "group", g.cfg.GroupID, "err", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, g.cfg.MaxRetryBackoff)
	}
}

// handle runs the handler on batch until it succeeds and returns its poison.
// A failure of a server being down is retried without bound, with backoff.
// Any other failure, once it happened MaxAttempts times, splits the batch in
// halves handled in order; a single message that still fails becomes poison
// with the error as its reason. It returns an error only when ctx ends.
func (g *Group) handle(ctx context.Context, batch []*sarama.ConsumerMessage, p partitionState) ([]Poison, error) {
	backoff := g.cfg.RetryBackoff
	rejected := 0
	for attempt := 1; ; attempt++ {
		// Lag counts from the first message not handled yet, so it shows a
		// stuck partition as well as a slow one.
		g.metrics.lag.WithLabelValues(p.topic, p.partition).Set(float64(max(p.hwm()-batch[0].Offset, 0)))
		poison, err := g.handler.HandleBatch(ctx, batch)
		if err == nil {
			return poison, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		reason := "unavailable"
		if !IsUnavailable(err) {
			reason = "rejected"
			rejected++
		}
		g.metrics.failures.WithLabelValues(p.topic, reason).Inc()
		if reason == "rejected" && g.cfg.MaxAttempts > 0 && rejected >= g.cfg.MaxAttempts {
			if len(batch) == 1 {
				g.log.Error("message fails the same way every time; dead-lettering it", "group", g.cfg.GroupID,
					"topic", batch[0].Topic, "partition", batch[0].Partition, "offset", batch[0].Offset, "attempts", attempt, "err", err)
				return []Poison{{Msg: batch[0], Reason: err.Error(), Attempts: attempt}}, nil
			}
			g.log.Warn("batch fails the same way every time; retrying it in halves", "group", g.cfg.GroupID,
				"topic", batch[0].Topic, "partition", batch[0].Partition, "first_offset", batch[0].Offset, "size", len(batch), "err", err)
			mid := len(batch) / 2
			first, err := g.handle(ctx, batch[:mid], p)
			if err != nil {
				return nil, err
			}
			second, err := g.handle(ctx, batch[mid:], p)
			if err != nil {
				return nil, err
			}
			return append(first, second...), nil
		}
		g.log.Warn("batch failed; retrying", "group", g.cfg.GroupID, "topic", batch[0].Topic,
			"partition", batch[0].Partition, "first_offset", batch[0].Offset, "size", len(batch),
			"attempt", attempt, "reason", reason, "retry_in", backoff.String(), "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, g.cfg.MaxRetryBackoff)
	}
}

// deadLetter publishes every poison message to its topic's DLQ and waits for
// the acknowledgements, retrying until they are durable.
func (g *Group) deadLetter(ctx context.Context, poison []Poison) error {
	backoff := g.cfg.RetryBackoff
	for _, p := range poison {
		msg := DeadLetterMessage(p)
		for {
			err := g.dlq.Publish(ctx, msg)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			g.log.Warn("dead-letter publish failed; retrying", "topic", msg.Topic, "err", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, g.cfg.MaxRetryBackoff)
		}
		g.metrics.deadLetter.WithLabelValues(p.Msg.Topic).Inc()
		g.log.Warn("message dead-lettered", "topic", p.Msg.Topic, "partition", p.Msg.Partition,
			"offset", p.Msg.Offset, "reason", p.Reason)
	}
	return nil
}

// DeadLetterMessage builds the DLQ record for p: same key and value, with the
// reason, attempts and source position in headers.
func DeadLetterMessage(p Poison) Message {
	headers := map[string]string{}
	for _, h := range p.Msg.Headers {
		if h != nil {
			headers[string(h.Key)] = string(h.Value)
		}
	}
	headers[HeaderDLQReason] = p.Reason
	headers[HeaderDLQAttempts] = strconv.Itoa(max(p.Attempts, 1))
	headers[HeaderDLQTopic] = p.Msg.Topic
	headers[HeaderDLQPartition] = strconv.Itoa(int(p.Msg.Partition))
	headers[HeaderDLQOffset] = strconv.FormatInt(p.Msg.Offset, 10)
	headers[HeaderDLQFailedAt] = time.Now().UTC().Format(time.RFC3339Nano)
	return Message{Topic: DeadLetter(p.Msg.Topic), Key: string(p.Msg.Key), Value: p.Msg.Value, Headers: headers}
}
