// Package mail sends multipart email over a small pool of reused SMTP
// connections with wneessen/go-mail, with a send-rate limit and
// temporary/permanent error classification for retries.
package mail

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	// Connections is how many SMTP connections the sender keeps, so as many
	// messages can be sent at once; zero means one.
	Connections int
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

// Sender keeps up to Config.Connections SMTP connections open and reuses
// them: each message borrows one for its whole SMTP transaction.
type Sender struct {
	cfg     Config
	limiter *rate.Limiter
	// idle holds every connection not lent out; all of them, to close.
	idle chan *conn
	all  []*conn
}

// conn is one SMTP client and whether it holds an open session.
type conn struct {
	client    *gomail.Client
	connected bool
}

// NewSender validates cfg and prepares the clients; each dials on its first send.
func NewSender(cfg Config) (*Sender, error) {
	if cfg.Host == "" || cfg.Port <= 0 || cfg.From == "" {
		return nil, errors.New("mail: host, port and from address are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Connections <= 0 {
		cfg.Connections = 1
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
	s := &Sender{cfg: cfg, idle: make(chan *conn, cfg.Connections)}
	for range cfg.Connections {
		client, err := gomail.NewClient(cfg.Host, opts...)
		if err != nil {
			return nil, fmt.Errorf("mail: new client: %w", err)
		}
		c := &conn{client: client}
		s.all = append(s.all, c)
		s.idle <- c
	}
	limit := rate.Inf
	if cfg.RatePerSecond > 0 {
		limit = rate.Limit(cfg.RatePerSecond)
	}
	s.limiter = rate.NewLimiter(limit, max(int(cfg.RatePerSecond), 1))
	return s, nil
}

// borrow waits for an idle connection; give it back with s.idle <- c.
func (s *Sender) borrow(ctx context.Context) (*conn, error) {
	select {
	case c := <-s.idle:
		return c, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("mail: wait for a connection: %w", ctx.Err())
	}
}

// Send delivers one message over one of the connections, dialling (again)
// when needed. Errors wrap ErrPermanent when retrying cannot help.
func (s *Sender) Send(ctx context.Context, m Message) error {
	if err := s.limiter.Wait(ctx); err != nil {
		return fmt.Errorf("mail: rate limit: %w", err)
	}
	msg, err := s.build(m)
	if err != nil {
		return fmt.Errorf("mail: build message: %w: %w", ErrPermanent, err)
	}
	c, err := s.borrow(ctx)
	if err != nil {
		return err
	}
	defer func() { s.idle <- c }()
	if !c.connected {
		if err := c.client.DialWithContext(ctx); err != nil {
			return fmt.Errorf("mail: connect %s:%d: %w", s.cfg.Host, s.cfg.Port, err)
		}
		c.connected = true
	}
	if err := c.client.Send(msg); err != nil {
		var se *gomail.SendError
		if errors.As(err, &se) && se.IsTemp() && se.Reason == gomail.ErrSMTPRcptTo && se.ErrorCode() != 421 {
			// go-mail reset the session after the refusal: the connection
			// stays usable for the next message.
			return fmt.Errorf("mail: send to server: %w: %w", ErrDeferred, err)
		}
		if errors.As(err, &se) && !se.IsTemp() && se.Reason != gomail.ErrConnCheck && se.Reason != gomail.ErrNoUnencoded {
			// The server answered and refused this message; the connection
			// is still usable for the next one.
			_ = c.client.Reset()
			return fmt.Errorf("mail: send to server: %w: %w", ErrPermanent, err)
		}
		// Anything else may have broken the connection: redial next time.
		_ = c.client.Close()
		c.connected = false
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

// Ping reports whether the SMTP server accepts a connection (checked on
// one idle connection; when every one is busy sending, the sends say it).
func (s *Sender) Ping(ctx context.Context) error {
	var c *conn
	select {
	case c = <-s.idle:
	default:
		return nil
	}
	defer func() { s.idle <- c }()
	if c.connected {
		// NOOP-like check through RSET keeps the connection honest.
		if err := c.client.Reset(); err == nil {
			return nil
		}
		_ = c.client.Close()
		c.connected = false
	}
	if err := c.client.DialWithContext(ctx); err != nil {
		return fmt.Errorf("smtp connect: %w", err)
	}
	c.connected = true
	return nil
}

// Close waits for every connection to come back from its send and ends its
// SMTP session. A later Send dials again.
func (s *Sender) Close() error {
	back := make([]*conn, 0, len(s.all))
	var errs []error
	for range s.all {
		c := <-s.idle
		back = append(back, c)
		if c.connected {
			c.connected = false
			errs = append(errs, c.client.Close())
		}
	}
	for _, c := range back {
		s.idle <- c
	}
	return errors.Join(errs...)
}
