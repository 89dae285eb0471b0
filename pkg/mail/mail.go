// Package mail sends multipart email over one reused SMTP connection with
// wneessen/go-mail, with a send-rate limit and temporary/permanent error
// classification for retries.
package mail

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"golang.org/x/time/rate"
)

// TLS modes for Config.TLS.
const (
	TLSNone     = "none"
	TLSStartTLS = "starttls"
	TLSImplicit = "tls"
)

// Config configures the SMTP connection.
type Config struct {
	Host     string
	Port     int
	TLS      string
	Username string
	Password string
	From     string
	Timeout  time.Duration
	// RatePerSecond limits messages per second; zero means unlimited.
	RatePerSecond float64
}

// Message is one email with an HTML and a plain-text part.
type Message struct {
	To        string
	Subject   string
	Text      string
	HTML      string
	MessageID string
	Headers   map[string]string
}

// ErrPermanent marks a delivery the server refused for good (5xx).
var ErrPermanent = errors.New("permanent smtp failure")

// ErrDeferred marks a message whose recipient the server refused for now
// (a 4xx answer to RCPT TO other than 421): the server is up and takes other
// mail, but this message may be refused the same way for a long time (a
// full mailbox, a greylist). Anything else that is not ErrPermanent is the
// server or the connection failing.
var ErrDeferred = errors.New("smtp server deferred the recipient")

// Sender keeps one SMTP connection open and reuses it for every message.
type Sender struct {
	cfg       Config
	client    *gomail.Client
	limiter   *rate.Limiter
	mu        sync.Mutex
	connected bool
}

// NewSender validates cfg and prepares the client; it dials on first send.
func NewSender(cfg Config) (*Sender, error) {
	if cfg.Host == "" || cfg.Port <= 0 || cfg.From == "" {
		return nil, errors.New("mail: host, port and from address are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	opts := []gomail.Option{gomail.WithPort(cfg.Port), gomail.WithTimeout(cfg.Timeout)}
	switch strings.ToLower(cfg.TLS) {
	case "", TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	default:
		return nil, fmt.Errorf("mail: unknown TLS mode %q (none, starttls, tls)", cfg.TLS)
	}
	if cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain),
			gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	client, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mail: new client: %w", err)
	}
	limit := rate.Inf
	if cfg.RatePerSecond > 0 {
		limit = rate.Limit(cfg.RatePerSecond)
	}
	return &Sender{cfg: cfg, client: client, limiter: rate.NewLimiter(limit, max(int(cfg.RatePerSecond), 1))}, nil
}

// Send delivers one message over the shared connection, dialling (again) when
// needed. Errors wrap ErrPermanent when retrying cannot help.
func (s *Sender) Send(ctx context.Context, m Message) error {
	if err := s.limiter.Wait(ctx); err != nil {
		return fmt.Errorf("mail: rate limit: %w", err)
	}
	msg, err := s.build(m)
	if err != nil {
		return fmt.Errorf("mail: build message: %w: %w", ErrPermanent, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.connected {
		if err := s.client.DialWithContext(ctx); err != nil {
			return fmt.Errorf("mail: connect %s:%d: %w", s.cfg.Host, s.cfg.Port, err)
		}
		s.connected = true
	}
	if err := s.client.Send(msg); err != nil {
		var se *gomail.SendError
		if errors.As(err, &se) && se.IsTemp() && se.Reason == gomail.ErrSMTPRcptTo && se.ErrorCode() != 421 {
			// go-mail reset the session after the refusal: the connection
			// stays usable for the next message.
			return fmt.Errorf("mail: send to server: %w: %w", ErrDeferred, err)
		}
		if errors.As(err, &se) && !se.IsTemp() && se.Reason != gomail.ErrConnCheck && se.Reason != gomail.ErrNoUnencoded {
			// The server answered and refused this message; the connection
			// is still usable for the next one.
			_ = s.client.Reset()
			return fmt.Errorf("mail: send to server: %w: %w", ErrPermanent, err)
		}
		// Anything else may have broken the connection: redial next time.
		_ = s.client.Close()
		s.connected = false
		return fmt.Errorf("mail: send: %w", err)
	}
	return nil
}

func (s *Sender) build(m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(s.cfg.From); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	msg.Subject(m.Subject)
	if m.MessageID != "" {
		msg.SetMessageIDWithValue(m.MessageID)
	} else {
		msg.SetMessageID()
	}
	msg.SetDate()
	for k, v := range m.Headers {
		msg.SetGenHeader(gomail.Header(k), v)
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// Ping reports whether the SMTP server accepts a connection.
func (s *Sender) Ping(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connected {
		// NOOP-like check through RSET keeps the shared connection honest.
		if err := s.client.Reset(); err == nil {
			return nil
		}
		_ = s.client.Close()
		s.connected = false
	}
	if err := s.client.DialWithContext(ctx); err != nil {
		return fmt.Errorf("smtp connect: %w", err)
	}
	s.connected = true
	return nil
}

// Close ends the SMTP session.
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.connected {
		return nil
	}
	s.connected = false
	return s.client.Close()
}
