package testinfra

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// Mailpit is a handle on a real Mailpit: its SMTP address and HTTP API.
type Mailpit struct {
	SMTPHost string
	SMTPPort int
	APIURL   string
	http     *http.Client
}

// MailpitServer returns the local stack's Mailpit, or one in a container.
func MailpitServer(t testing.TB) *Mailpit {
	t.Helper()
	NeedsStack(t)
	smtp := env("FAREWELL_TEST_SMTP_ADDR", defaultSMTP)
	api := env("FAREWELL_TEST_MAILPIT_URL", defaultMailAPI)
	if !reachable(smtp) {
		var ok bool
		if smtp, api, ok = mailpitContainer(t); !ok {
			missing(t, "Mailpit (SMTP)", smtp)
		}
	}
	host, portStr, err := net.SplitHostPort(smtp)
	if err != nil {
		t.Fatalf("smtp address %q: %v", smtp, err)
	}
	port, _ := strconv.Atoi(portStr)
	return &Mailpit{SMTPHost: host, SMTPPort: port, APIURL: api, http: &http.Client{Timeout: 5 * time.Second}}
}

// MailSummary is one message in a Mailpit search result.
type MailSummary struct {
	ID      string `json:"ID"`
	Subject string `json:"Subject"`
	To      []struct {
		Address string `json:"Address"`
	} `json:"To"`
}

// MailBody is the full message as Mailpit parsed it.
type MailBody struct {
	ID      string `json:"ID"`
	Subject string `json:"Subject"`
	Text    string `json:"Text"`
	HTML    string `json:"HTML"`
}

// Search returns the messages matching a Mailpit search query, e.g. `to:"a@b.c"`.
func (m *Mailpit) Search(ctx context.Context, query string) ([]MailSummary, error) {
	var out struct {
		Messages []MailSummary `json:"messages"`
	}
	u := m.APIURL + "/api/v1/search?limit=1000&query=" + url.QueryEscape(query)
	if err := m.getJSON(ctx, u, &out); err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// Message returns one message with its text and HTML bodies.
func (m *Mailpit) Message(ctx context.Context, id string) (MailBody, error) {
	var out MailBody
	err := m.getJSON(ctx, m.APIURL+"/api/v1/message/"+url.PathEscape(id), &out)
	return out, err
}

// WaitForMessages polls until at least n messages match query or the
// timeout passes, and returns what it found.
func (m *Mailpit) WaitForMessages(t testing.TB, query string, n int, timeout time.Duration) []MailSummary {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err := m.Search(ctx, query)
		cancel()
		if err == nil && len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit: wanted %d message(s) for %s within %s, got %d (err %v)", n, query, timeout, len(got), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (m *Mailpit) getJSON(ctx context.Context, u string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := m.http.Do(req)
	if err != nil {
		return fmt.Errorf("mailpit %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpit %s: status %d", u, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(dst)
}
