// Package stackclient talks to a running Farewell stack from the outside, the
// way a participant, an admin or an operator would: through nginx, Mailpit's
// API and the settings of the local environment file (found and read with
// pkg/localstack). The demo, the load tool and the end-to-end tests share it.
package stackclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/terning-farewell/farewell/pkg/config"
	"github.com/terning-farewell/farewell/pkg/token"
)

// NewMinter builds the token codec of the stack from its environment, to mint
// test tokens for synthetic participants (local secrets only).
func NewMinter(env map[string]string) (*token.Codec, error) {
	e := config.FromMap(env)
	cfg := token.LoadConfig(e)
	if err := e.Err(); err != nil {
		return nil, err
	}
	return token.New(cfg)
}

// Client calls the public API through nginx.
type Client struct {
	BaseURL  string
	AdminKey string
	HTTP     *http.Client
}

// NewClient returns a client with keep-alive connections sized for bursts.
func NewClient(baseURL, adminKey string, maxConns int) *Client {
	tr := &http.Transport{
		MaxIdleConns: maxConns, MaxIdleConnsPerHost: maxConns, MaxConnsPerHost: maxConns,
		IdleConnTimeout: 30 * time.Second,
	}
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), AdminKey: adminKey, HTTP: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Envelope is the API's response body.
type Envelope struct {
	Status  int             `json:"status"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Result  json.RawMessage `json:"result"`
}

// Response is one answer: HTTP status, envelope and latency.
type Response struct {
	HTTPStatus int
	Envelope   Envelope
	Header     http.Header
	Latency    time.Duration
}

// Do sends one request and decodes the envelope.
func (c *Client) Do(ctx context.Context, method, path string, body any, header map[string]string) (Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Response{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return Response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	out := Response{HTTPStatus: resp.StatusCode, Header: resp.Header, Latency: time.Since(start)}
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(raw, &out.Envelope); err != nil {
		return out, fmt.Errorf("%s %s: %d with a non-JSON body %.80q", method, path, resp.StatusCode, raw)
	}
	return out, nil
}

// Stats are the admin figures.
type Stats struct {
	Total     int64 `json:"total"`
	Remaining int64 `json:"remaining"`
	Winners   int64 `json:"winners"`
	Losers    int64 `json:"losers"`
	Pending   int64 `json:"pending"`
	SoldOut   bool  `json:"soldOut"`
}

// Stats reads GET /api/admin/event.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	r, err := c.Do(ctx, http.MethodGet, "/api/admin/event", nil, map[string]string{"X-ADMIN-KEY": c.AdminKey})
	if err != nil {
		return Stats{}, err
	}
	if r.HTTPStatus != http.StatusOK {
		return Stats{}, fmt.Errorf("admin stats: %d %s", r.HTTPStatus, r.Envelope.Code)
	}
	var s Stats
	return s, json.Unmarshal(r.Envelope.Result, &s)
}

// StatusError is an admin call answered with something other than 200.
type StatusError struct {
	Op            string // "set stock", "set window"
	HTTPStatus    int
	Code, Message string
}

func (e *StatusError) Error() string {
	return strings.TrimSpace(fmt.Sprintf("%s: %d %s %s", e.Op, e.HTTPStatus, e.Code, e.Message))
}

// SetStock calls POST /api/admin/event/stock.
func (c *Client) SetStock(ctx context.Context, count int64) error {
	r, err := c.Do(ctx, http.MethodPost, "/api/admin/event/stock", map[string]int64{"count": count}, map[string]string{"X-ADMIN-KEY": c.AdminKey})
	if err != nil {
		return err
	}
	if r.HTTPStatus != http.StatusOK {
		return &StatusError{Op: "set stock", HTTPStatus: r.HTTPStatus, Code: r.Envelope.Code, Message: r.Envelope.Message}
	}
	return nil
}

// OpenWindow opens the event from now-1h to now+d.
func (c *Client) OpenWindow(ctx context.Context, d time.Duration) error {
	body := map[string]string{
		"opensAt":  time.Now().Add(-time.Hour).UTC().Format(time.RFC3339),
		"closesAt": time.Now().Add(d).UTC().Format(time.RFC3339),
	}
	r, err := c.Do(ctx, http.MethodPut, "/api/admin/event/window", body, map[string]string{"X-ADMIN-KEY": c.AdminKey})
	if err != nil {
		return err
	}
	if r.HTTPStatus != http.StatusOK {
		return &StatusError{Op: "set window", HTTPStatus: r.HTTPStatus, Code: r.Envelope.Code, Message: r.Envelope.Message}
	}
	return nil
}

// Apply calls POST /api/event/apply with a bearer token.
func (c *Client) Apply(ctx context.Context, tok string) (Response, error) {
	return c.Do(ctx, http.MethodPost, "/api/event/apply", nil, map[string]string{"Authorization": "Bearer " + tok})
}

// Status calls GET /api/event/status and returns result.status.
func (c *Client) Status(ctx context.Context, tok string) (string, Response, error) {
	r, err := c.Do(ctx, http.MethodGet, "/api/event/status", nil, map[string]string{"Authorization": "Bearer " + tok})
	if err != nil || r.HTTPStatus != http.StatusOK {
		return "", r, err
	}
	var res struct {
		Status string `json:"status"`
	}
	err = json.Unmarshal(r.Envelope.Result, &res)
	return res.Status, r, err
}

// Mailpit reads Mailpit's HTTP API.
type Mailpit struct {
	URL  string
	HTTP *http.Client
}

// Count returns how many messages match a Mailpit search query.
func (m *Mailpit) Count(ctx context.Context, query string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"/api/v1/search?limit=1&query="+url.QueryEscape(query), nil)
	if err != nil {
		return 0, err
	}
	resp, err := m.HTTP.Do(req)
	if err != nil {
		return 0, fmt.Errorf("mailpit: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Total int `json:"messages_count"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, fmt.Errorf("mailpit: %w", err)
	}
	return out.Total, nil
}
