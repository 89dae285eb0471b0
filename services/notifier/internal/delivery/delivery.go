// Package delivery holds the notifier's rules: which Kafka messages become
// which emails (and which are skipped), how each email is identified so a
// redelivered message never mails anyone twice, and the service that claims
// a job's marker, renders and sends its email with bounded retries. It
// reaches Redis and SMTP only through the small interfaces it defines.
package delivery

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// SchemaVersion is the newest message schema this notifier understands.
const SchemaVersion = 1

// ErrInvalidMessage marks a message that can never be delivered: missing
// fields or an unknown schema. It goes to the dead-letter topic.
var ErrInvalidMessage = errors.New("invalid message")

// Kind is the kind of email; it names markers and metrics.
type Kind string

// Kinds of email.
const (
	KindCode   Kind = "code"
	KindResult Kind = "result"
)

// Template names the email to render.
type Template int

// Templates.
const (
	TemplateCode Template = iota + 1
	TemplateWinner
	TemplateLoser
)

// SkipReason says why a valid message sends no email; empty means send.
type SkipReason string

// Skip reasons (metric label values).
const (
	SkipNone             SkipReason = ""
	SkipExpired          SkipReason = "expired"
	SkipLoserNotNotified SkipReason = "loser_not_notified"
)

// Marker lifetimes: "sending" outlives a normal send with its retries, but is
// short because a crashed notifier's claims hold back its partition until
// they expire; "sent" outlives any redelivery of the message (a code is
// worthless after its TTL anyway).
const (
	SendingTTL  = 45 * time.Second
	CodeSentTTL = time.Hour
	// ResultSentTTL covers the decisions topic's retention (a week) with room.
	ResultSentTTL = 30 * 24 * time.Hour
)

// CodeRequest is a decoded farewell.auth.codes message.
type CodeRequest struct {
	SchemaVersion   uint32
	Email           string
	Code            string
	RequestID       string
	ExpiresAtUnixMs int64
}

// DecisionStatus is a decision's outcome as carried on the decisions topic
// (the same numbers as the message schema).
type DecisionStatus int32

// Decision outcomes.
const (
	StatusUnspecified DecisionStatus = 0
	StatusSuccess     DecisionStatus = 1
	StatusFailure     DecisionStatus = 2
)

// Decided is a decoded farewell.event.decisions message.
type Decided struct {
	SchemaVersion uint32
	EventID       string
	// Email is the participant (the identity under the email policy).
	Email string
	// Delivery is the address as typed, where the mail goes; empty: Email.
	Delivery string
	Status   DecisionStatus
	Rank     int64
}

// Job is one email to send.
type Job struct {
	Kind     Kind
	ID       string
	To       string
	Template Template
	// Code and ExpiresAt for TemplateCode; Rank for TemplateWinner.
	Code      string
	ExpiresAt time.Time
	Rank      int64
}

// MarkerKey is the Redis key that makes the job idempotent.
func (j Job) MarkerKey() string { return "farewell:mail:" + string(j.Kind) + ":" + j.ID }

// MessageID is the email's stable Message-ID: a redelivered duplicate, if
// one ever slipped through, carries the same id and is visible as such.
// The id is hashed because it contains the recipient's address.
func (j Job) MessageID() string {
	sum := sha256.Sum256([]byte(j.ID))
	return string(j.Kind) + "." + hex.EncodeToString(sum[:16]) + "@farewell"
}

// SentTTL is how long the "sent" marker is kept.
func (j Job) SentTTL() time.Duration {
	if j.Kind == KindCode {
		return CodeSentTTL
	}
	return ResultSentTTL
}

// CodeJob decides the email for a code request.
func CodeJob(m CodeRequest, now time.Time) (Job, SkipReason, error) {
	if err := checkSchema(m.SchemaVersion); err != nil {
		return Job{}, SkipNone, err
	}
	switch {
	case m.Email == "":
		return Job{}, SkipNone, invalid("missing email")
	case m.RequestID == "":
		return Job{}, SkipNone, invalid("missing request_id")
	case !sixDigits(m.Code):
		return Job{}, SkipNone, invalid("code is not six digits")
	case m.ExpiresAtUnixMs <= 0:
		return Job{}, SkipNone, invalid("missing expires_at_unix_ms")
	}
	expires := time.UnixMilli(m.ExpiresAtUnixMs)
	if !now.Before(expires) {
		return Job{}, SkipExpired, nil
	}
	return Job{
		Kind: KindCode, ID: m.RequestID, To: m.Email, Template: TemplateCode,
		Code: m.Code, ExpiresAt: expires,
	}, SkipNone, nil
}

// ResultJob decides the email for a decision. Losers are mailed only when
// notifyLosers is set.
func ResultJob(m Decided, notifyLosers bool) (Job, SkipReason, error) {
	if err := checkSchema(m.SchemaVersion); err != nil {
		return Job{}, SkipNone, err
	}
	switch {
	case m.EventID == "":
		return Job{}, SkipNone, invalid("missing event_id")
	case m.Email == "":
		return Job{}, SkipNone, invalid("missing email")
	case len(m.Delivery) > 254:
		return Job{}, SkipNone, invalid("oversized delivery_email")
	}
	var status string
	// The participant's mail goes to the address they typed; the job's id
	// stays the participant's, so one mailbox gets one result.
	job := Job{Kind: KindResult, To: m.Email}
	if m.Delivery != "" {
		job.To = m.Delivery
	}
	switch m.Status {
	case StatusSuccess:
		if m.Rank < 1 {
			return Job{}, SkipNone, invalid("winner without a rank")
		}
		status, job.Template, job.Rank = "SUCCESS", TemplateWinner, m.Rank
	case StatusFailure:
		if !notifyLosers {
			return Job{}, SkipLoserNotNotified, nil
		}
		status, job.Template = "FAILURE", TemplateLoser
	default:
		return Job{}, SkipNone, invalid(fmt.Sprintf("unknown status %d", m.Status))
	}
	job.ID = m.EventID + ":" + m.Email + ":" + status
	return job, SkipNone, nil
}

func checkSchema(v uint32) error {
	switch {
	case v == 0:
		return invalid("missing schema_version")
	case v > SchemaVersion:
		return invalid(fmt.Sprintf("unknown schema_version %d (this notifier reads up to %d)", v, SchemaVersion))
	}
	return nil
}

func invalid(reason string) error { return fmt.Errorf("%w: %s", ErrInvalidMessage, reason) }

func sixDigits(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
