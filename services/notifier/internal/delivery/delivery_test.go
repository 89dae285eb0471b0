package delivery

import (
	"errors"
	"regexp"
	"testing"
	"time"
)

func TestCodeJob(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1_800_000_000_000)
	valid := func() CodeRequest {
		return CodeRequest{
			SchemaVersion: 1, Email: "a@example.com", Code: "012345", RequestID: "r-1",
			ExpiresAtUnixMs: now.Add(5 * time.Minute).UnixMilli(),
		}
	}
	tests := []struct {
		name     string
		mutate   func(m *CodeRequest)
		wantSkip SkipReason
		wantErr  bool
	}{
		{name: "valid", mutate: func(*CodeRequest) {}},
		{name: "expired", mutate: func(m *CodeRequest) { m.ExpiresAtUnixMs = now.UnixMilli() }, wantSkip: SkipExpired},
		{name: "no schema", mutate: func(m *CodeRequest) { m.SchemaVersion = 0 }, wantErr: true},
		{name: "future schema", mutate: func(m *CodeRequest) { m.SchemaVersion = 2 }, wantErr: true},
		{name: "no email", mutate: func(m *CodeRequest) { m.Email = "" }, wantErr: true},
		{name: "no request id", mutate: func(m *CodeRequest) { m.RequestID = "" }, wantErr: true},
		{name: "short code", mutate: func(m *CodeRequest) { m.Code = "12345" }, wantErr: true},
		{name: "no expiry", mutate: func(m *CodeRequest) { m.ExpiresAtUnixMs = 0 }, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := valid()
			tt.mutate(&m)
			job, skip, err := CodeJob(m, now)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidMessage) {
					t.Fatalf("err = %v, want ErrInvalidMessage", err)
				}
				return
			}
			if err != nil || skip != tt.wantSkip {
				t.Fatalf("skip, err = %q, %v; want %q", skip, err, tt.wantSkip)
			}
			if skip == SkipNone && (job.ID != "r-1" || job.To != "a@example.com" || job.Code != "012345" || job.Template != TemplateCode) {
				t.Fatalf("job = %+v", job)
			}
		})
	}
}

func TestResultJob(t *testing.T) {
	t.Parallel()
	win := StatusSuccess
	lose := StatusFailure
	msg := func(status DecisionStatus, rank int64) Decided {
		return Decided{SchemaVersion: 1, EventID: "final-gift", Email: "a@example.com", Status: status, Rank: rank}
	}
	tests := []struct {
		name         string
		m            Decided
		notifyLosers bool
		wantTemplate Template
		wantID       string
		wantSkip     SkipReason
		wantErr      bool
	}{
		{name: "winner", m: msg(win, 3), wantTemplate: TemplateWinner, wantID: "final-gift:a@example.com:SUCCESS"},
		{name: "loser not notified", m: msg(lose, 0), wantSkip: SkipLoserNotNotified},
		{name: "loser notified", m: msg(lose, 0), notifyLosers: true, wantTemplate: TemplateLoser, wantID: "final-gift:a@example.com:FAILURE"},
		{name: "winner without rank", m: msg(win, 0), wantErr: true},
		{name: "unspecified status", m: msg(StatusUnspecified, 0), wantErr: true},
		{name: "unknown status", m: msg(DecisionStatus(9), 0), wantErr: true},
		{name: "future schema", m: Decided{SchemaVersion: 2, EventID: "e", Email: "a@example.com", Status: win, Rank: 1}, wantErr: true},
		{name: "no event", m: Decided{SchemaVersion: 1, Email: "a@example.com", Status: win, Rank: 1}, wantErr: true},
		{name: "no email", m: Decided{SchemaVersion: 1, EventID: "e", Status: win, Rank: 1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job, skip, err := ResultJob(tt.m, tt.notifyLosers)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidMessage) {
					t.Fatalf("err = %v, want ErrInvalidMessage", err)
				}
				return
			}
			if err != nil || skip != tt.wantSkip {
				t.Fatalf("skip, err = %q, %v; want %q", skip, err, tt.wantSkip)
			}
			if skip == SkipNone && (job.Template != tt.wantTemplate || job.ID != tt.wantID) {
				t.Fatalf("job = %+v, want template %d id %s", job, tt.wantTemplate, tt.wantID)
			}
		})
	}
}

func TestJobIdentity(t *testing.T) {
	t.Parallel()
	a := Job{Kind: KindResult, ID: "final-gift:a@example.com:SUCCESS"}
	b := Job{Kind: KindResult, ID: "final-gift:b@example.com:SUCCESS"}
	again := Job{Kind: KindResult, ID: "final-gift:a@example.com:SUCCESS"}
	if a.MessageID() != again.MessageID() || a.MessageID() == b.MessageID() {
		t.Fatal("Message-ID must be stable per job and differ between jobs")
	}
	if !regexp.MustCompile(`^result\.[0-9a-f]{32}@farewell$`).MatchString(a.MessageID()) {
		t.Fatalf("Message-ID %q is not a valid msg-id", a.MessageID())
	}
	if a.MarkerKey() != "farewell:mail:result:final-gift:a@example.com:SUCCESS" {
		t.Fatalf("marker key = %s", a.MarkerKey())
	}
	if (Job{Kind: KindCode}).SentTTL() != time.Hour || a.SentTTL() != 30*24*time.Hour {
		t.Fatal("sent TTLs changed")
	}
}

// TestResultGoesToTheTypedAddress: the decision is mailed to the delivery
// address when the message has one, and the job stays the participant's,
// so two spellings of one mailbox get one mail.
func TestResultGoesToTheTypedAddress(t *testing.T) {
	t.Parallel()
	m := Decided{SchemaVersion: 1, EventID: "ev", Email: "username@gmail.com", Delivery: "User.Name+ev@GoogleMail.com", Status: StatusSuccess, Rank: 3}
	job, _, err := ResultJob(m, true)
	if err != nil || job.To != m.Delivery || job.ID != "ev:username@gmail.com:SUCCESS" {
		t.Fatalf("job = %+v, %v; want To the typed address and the identity's id", job, err)
	}
	m.Delivery = ""
	if job, _, err := ResultJob(m, true); err != nil || job.To != m.Email {
		t.Fatalf("without a delivery address: job = %+v, %v; want To the email", job, err)
	}
}
