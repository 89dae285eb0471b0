// Package kafka wraps IBM/sarama for Farewell: an idempotent, batching
// producer where each caller waits only for its own acknowledgement, and a
// consumer-group loop that hands batches to a handler, marks offsets only
// after the handler succeeded and sends poison messages to a dead-letter topic.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrProducerClosed is returned by Publish after Close.
var ErrProducerClosed = errors.New("kafka producer closed")

// ProducerConfig configures a Producer.
type ProducerConfig struct {
	Brokers  []string
	ClientID string
	// Linger is how long the producer waits to batch messages into one request.
	Linger time.Duration
	// MaxBatch flushes earlier once this many messages are waiting.
	MaxBatch int
	// Retries is how many times a failed send is retried before the caller
	// sees an error.
	Retries int
}

// Producer publishes messages and lets every caller wait for its own ack.
type Producer struct {
	client   sarama.Client
	async    sarama.AsyncProducer
	log      *slog.Logger
	latency  *prometheus.HistogramVec
	failures *prometheus.CounterVec
	wg       sync.WaitGroup
	mu       sync.RWMutex
	closed   bool
}

// Message is one record to publish.
type Message struct {
	Topic   string
	Key     string
	Value   []byte
	Headers map[string]string
}

// Ack is where the broker stored an acknowledged message.
type Ack struct {
	Partition int32
	Offset    int64
}

type pending struct {
	done  chan acked
	start time.Time
}

type acked struct {
	ack Ack
	err error
}

// NewSaramaConfig returns the base sarama configuration Farewell uses.
func NewSaramaConfig(clientID string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = clientID
	cfg.Version = sarama.V3_6_0_0
	cfg.Net.DialTimeout = 3 * time.Second
	cfg.Net.ReadTimeout = 10 * time.Second
	cfg.Net.WriteTimeout = 10 * time.Second
	cfg.Metadata.Retry.Max = 2
	cfg.Metadata.Retry.Backoff = 200 * time.Millisecond
	return cfg
}

// NewProducer connects to the brokers and starts the acknowledgement loop.
func NewProducer(cfg ProducerConfig, log *slog.Logger, reg prometheus.Registerer) (*Producer, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka producer: no brokers")
	}
	sc := NewSaramaConfig(cfg.ClientID)
	// Idempotent, acks=all: an acknowledged message is on every in-sync
	// replica and retries never duplicate it.
	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Net.MaxOpenRequests = 1
	sc.Producer.Retry.Max = max(cfg.Retries, 1)
	sc.Producer.Retry.Backoff = 100 * time.Millisecond
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Flush.Frequency = max(cfg.Linger, time.Millisecond)
	sc.Producer.Flush.Messages = max(cfg.MaxBatch, 1)
	sc.Producer.Flush.MaxMessages = 0
	sc.Producer.Partitioner = sarama.NewHashPartitioner
	sc.ChannelBufferSize = 4096

	client, err := sarama.NewClient(cfg.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafka producer: connect %v: %w", cfg.Brokers, err)
	}
	async, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("kafka producer: start: %w", err)
	}
	p := &Producer{
		client: client, async: async, log: log,
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "farewell_kafka_publish_duration_seconds",
			Help:    "Time from publish to broker acknowledgement, by topic.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"topic"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "farewell_kafka_publish_errors_total", Help: "Messages the broker did not acknowledge, by topic.",
		}, []string{"topic"}),
	}
	for _, c := range []prometheus.Collector{p.latency, p.failures} {
		if err := reg.Register(c); err != nil {
			_ = async.Close()
			_ = client.Close()
			return nil, fmt.Errorf("kafka producer: register metrics: %w", err)
		}
	}
	p.wg.Add(2)
	go p.deliverSuccesses()
	go p.deliverErrors()
	return p, nil
}

func (p *Producer) deliverSuccesses() {
	defer p.wg.Done()
	for m := range p.async.Successes() {
		pd := m.Metadata.(*pending)
		p.latency.WithLabelValues(m.Topic).Observe(time.Since(pd.start).Seconds())
		pd.done <- acked{ack: Ack{Partition: m.Partition, Offset: m.Offset}}
	}
}

func (p *Producer) deliverErrors() {
	defer p.wg.Done()
	for e := range p.async.Errors() {
		p.failures.WithLabelValues(e.Msg.Topic).Inc()
		e.Msg.Metadata.(*pending).done <- acked{err: e.Err}
	}
}

// Publish sends one message and waits until the broker acknowledged it, the
// send failed, or ctx ended. Other callers' messages share the same batch.
func (p *Producer) Publish(ctx context.Context, m Message) error {
	_, err := p.PublishAcked(ctx, m)
	return err
}

// PublishAcked is Publish that also returns where the broker stored the
// message: its partition and offset (an application's place in line).
func (p *Producer) PublishAcked(ctx context.Context, m Message) (Ack, error) {
	pd, err := p.enqueue(ctx, m)
	if err != nil {
		return Ack{}, err
	}
	return pd.wait(ctx, m.Topic)
}

// enqueue hands m to the producer's batching; the returned pending
// delivers its acknowledgement.
func (p *Producer) enqueue(ctx context.Context, m Message) (*pending, error) {
	pd := &pending{done: make(chan acked, 1), start: time.Now()}
	msg := &sarama.ProducerMessage{Topic: m.Topic, Value: sarama.ByteEncoder(m.Value), Metadata: pd}
	if m.Key != "" {
		msg.Key = sarama.StringEncoder(m.Key)
	}
	for k, v := range m.Headers {
		msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return nil, ErrProducerClosed
	}
	select {
	case p.async.Input() <- msg:
		return pd, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("publish to %s: %w", m.Topic, ctx.Err())
	}
}

// wait waits for the acknowledgement of an enqueued message.
func (pd *pending) wait(ctx context.Context, topic string) (Ack, error) {
	select {
	case r := <-pd.done:
		if r.err != nil {
			return Ack{}, fmt.Errorf("publish to %s: %w", topic, r.err)
		}
		return r.ack, nil
	case <-ctx.Done():
		return Ack{}, fmt.Errorf("publish to %s: waiting for ack: %w", topic, ctx.Err())
	}
}

// Ping reports whether a broker answers a metadata request.
func (p *Producer) Ping(ctx context.Context) error { return pingClient(ctx, p.client) }

func pingClient(ctx context.Context, client sarama.Client) error {
	errc := make(chan error, 1)
	go func() {
		if err := client.RefreshMetadata(); err != nil {
			errc <- fmt.Errorf("kafka metadata: %w", err)
			return
		}
		errc <- nil
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return fmt.Errorf("kafka metadata: %w", ctx.Err())
	}
}

// Close flushes buffered messages, waits for their acknowledgements and closes
// the connection. Publish returns ErrProducerClosed afterwards.
func (p *Producer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.async.AsyncClose()
	p.wg.Wait()
	if err := p.client.Close(); err != nil && !errors.Is(err, sarama.ErrClosedClient) {
		return fmt.Errorf("kafka producer: close: %w", err)
	}
	return nil
}

// PublishAll sends every message and waits until all are acknowledged. The
// messages travel in the same batches; it returns the first failure. They
// are handed to the producer one after the other (one goroutine, however
// many messages), then their acknowledgements are awaited; a message not
// handed over because ctx ended is that failure.
func (p *Producer) PublishAll(ctx context.Context, msgs []Message) error {
	queued := make([]*pending, 0, len(msgs))
	var first error
	for _, m := range msgs {
		pd, err := p.enqueue(ctx, m)
		if err != nil {
			first = err
			break
		}
		queued = append(queued, pd)
	}
	for i, pd := range queued {
		if _, err := pd.wait(ctx, msgs[i].Topic); err != nil && first == nil {
			first = err
		}
	}
	return first
}
