// Package smtpmail is the notifier's SMTP adapter: it hands rendered emails
// to a pkg/mail sender and marks the refusals retrying cannot help.
package smtpmail

import (
	"context"
	"errors"
	"fmt"

	"github.com/terning-farewell/farewell/pkg/mail"
	"github.com/terning-farewell/farewell/services/notifier/internal/delivery"
)

// Mailer is the part of the pkg/mail sender the adapter needs.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

var _ Mailer = (*mail.Sender)(nil)

// Sender sends delivery emails over SMTP.
type Sender struct{ m Mailer }

var _ delivery.Sender = (*Sender)(nil)

// New returns a Sender that sends through m.
func New(m Mailer) *Sender { return &Sender{m: m} }

// Send sends e. A permanent SMTP refusal wraps delivery.ErrPermanent; a
// recipient the server deferred (4xx to RCPT TO) is left unmarked, since it
// may fail the same way every time; every other failure (no connection,
// a timeout, the server closing or refusing everything) wraps
// delivery.ErrUnavailable: the server is down and retrying waits for it.
func (s *Sender) Send(ctx context.Context, e delivery.Email) error {
	err := s.m.Send(ctx, mail.Message{To: e.To, Subject: e.Subject, Text: e.Text, HTML: e.HTML, MessageID: e.MessageID})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mail.ErrPermanent):
		return fmt.Errorf("%w: %w", delivery.ErrPermanent, err)
	case errors.Is(err, mail.ErrDeferred):
		return err
	default:
		return fmt.Errorf("%w: %w", delivery.ErrUnavailable, err)
	}
}
