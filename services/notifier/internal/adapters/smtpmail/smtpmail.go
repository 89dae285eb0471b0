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

// Send sends e; a permanent SMTP refusal wraps delivery.ErrPermanent.
func (s *Sender) Send(ctx context.Context, e delivery.Email) error {
	err := s.m.Send(ctx, mail.Message{To: e.To, Subject: e.Subject, Text: e.Text, HTML: e.HTML, MessageID: e.MessageID})
	if errors.Is(err, mail.ErrPermanent) {
		return fmt.Errorf("%w: %w", delivery.ErrPermanent, err)
	}
	return err
}
