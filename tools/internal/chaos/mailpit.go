package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/terning-farewell/farewell/tools/internal/supervisor"
)

// Mailpit reads the mailbox through Mailpit's HTTP API.
type Mailpit struct {
	URL  string
	HTTP *http.Client
}

// Mail is one message in the mailbox.
type Mail struct {
	ID        string
	MessageID string
	To        []string
	Subject   string
}

// Search returns every message whose To contains query (Mailpit's to: filter
// is a substring match), paging through the results.
func (m *Mailpit) Search(ctx context.Context, to string) ([]Mail, error) {
	var out []Mail
	const page = 1000
	for start := 0; ; start += page {
		u := fmt.Sprintf("%s/api/v1/search?query=%s&start=%d&limit=%d", m.URL, url.QueryEscape("to:"+to), start, page)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		resp, err := m.HTTP.Do(req)
		if err != nil {
			return nil, fmt.Errorf("mailpit search: %w", err)
		}
		var body struct {
			Count    int `json:"messages_count"`
			Messages []struct {
				ID        string
				MessageID string
				To        []struct{ Address string }
				Subject   string
			} `json:"messages"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		_ = resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("mailpit search: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("mailpit search: HTTP %d", resp.StatusCode)
		}
		for _, msg := range body.Messages {
			mm := Mail{ID: msg.ID, MessageID: msg.MessageID, Subject: msg.Subject}
			for _, a := range msg.To {
				mm.To = append(mm.To, strings.ToLower(a.Address))
			}
			out = append(out, mm)
		}
		if len(body.Messages) < page || start+page >= body.Count {
			return out, nil
		}
	}
}

// ReplaceMailpit stops the stack's Mailpit and starts the same binary on the
// same ports and database with extra arguments (e.g. recipients it refuses
// for good, or random temporary refusals). Its pid goes into the pid file,
// so `make stop` stops it; Restore puts the standard one back.
func (s *Stack) ReplaceMailpit(ctx context.Context, extra ...string) error {
	if _, err := s.Signal("mailpit", syscall.SIGTERM, 15*time.Second); err != nil {
		return err
	}
	s.mu.Lock()
	s.mailpitReplaced = true
	s.mu.Unlock()
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	args := append(supervisor.MailpitArgs(s.Paths), extra...)
	if _, _, err := s.startProcess("mailpit", filepath.Join(s.Paths.Bin, "mailpit"), args, env); err != nil {
		return err
	}
	s.Logf("mailpit replaced: %s", strings.Join(extra, " "))
	return s.WaitReady(ctx, 30*time.Second, "mailpit")
}

// RestoreMailpit stops a replaced Mailpit and lets the supervisor start
// the standard one.
func (s *Stack) RestoreMailpit(ctx context.Context) error {
	if s.runningPid("mailpit") != 0 {
		if _, err := s.Signal("mailpit", syscall.SIGTERM, 15*time.Second); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.mailpitReplaced = false
	s.mu.Unlock()
	return s.StartInfra(ctx, "mailpit")
}

// Count returns how many messages' To contains to.
func (m *Mailpit) Count(ctx context.Context, to string) (int, error) {
	u := fmt.Sprintf("%s/api/v1/search?query=%s&limit=1", m.URL, url.QueryEscape("to:"+to))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := m.HTTP.Do(req)
	if err != nil {
		return 0, fmt.Errorf("mailpit search: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Count int `json:"messages_count"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("mailpit search: %w", err)
	}
	return body.Count, nil
}
