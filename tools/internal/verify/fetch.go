package verify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/terning-farewell/farewell/pkg/fairlog"
)

// Evidence is what the gateway publishes: the log up to the head, the
// signed head and the keys.
type Evidence struct {
	Log  []byte
	Head fairlog.Head
	Keys fairlog.KeySet
	JWKS fairlog.JWKS
}

// Fetch downloads the evidence from a gateway (or nginx) at base: the head
// first, then the log cut at the head's length (the log only grows), then
// the keys.
func Fetch(ctx context.Context, client *http.Client, base string) (Evidence, error) {
	var ev Evidence
	if err := getJSON(ctx, client, base+"/api/event/log/head", &ev.Head); err != nil {
		return ev, err
	}
	body, err := get(ctx, client, base+"/api/event/log")
	if err != nil {
		return ev, err
	}
	defer body.Close()
	var buf bytes.Buffer
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := int64(0); n < ev.Head.Entries && sc.Scan(); n++ {
		buf.Write(sc.Bytes())
		buf.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return ev, fmt.Errorf("read log: %w", err)
	}
	ev.Log = buf.Bytes()
	if err := getJSON(ctx, client, base+"/api/event/keys", &ev.JWKS); err != nil {
		return ev, err
	}
	ev.Keys, err = ev.JWKS.KeySet()
	return ev, err
}

func get(ctx context.Context, client *http.Client, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return resp.Body, nil
}

func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	body, err := get(ctx, client, url)
	if err != nil {
		return err
	}
	defer body.Close()
	if err := json.NewDecoder(body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// ParseReceipt reads a receipt as saved by a participant: the receipt
// itself, the apply or status answer ({"result":{"receipt":…}}) or its
// result ({"receipt":…}).
func ParseReceipt(b []byte) (fairlog.Receipt, error) {
	var probe struct {
		Result *struct {
			Receipt *fairlog.Receipt `json:"receipt"`
		} `json:"result"`
		Receipt *fairlog.Receipt `json:"receipt"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return fairlog.Receipt{}, fmt.Errorf("read receipt: %w", err)
	}
	switch {
	case probe.Result != nil && probe.Result.Receipt != nil:
		return *probe.Result.Receipt, nil
	case probe.Receipt != nil:
		return *probe.Receipt, nil
	}
	var r fairlog.Receipt
	if err := json.Unmarshal(b, &r); err != nil {
		return fairlog.Receipt{}, fmt.Errorf("read receipt: %w", err)
	}
	if r.Signature == "" {
		return fairlog.Receipt{}, errors.New("read receipt: no signature in it")
	}
	return r, nil
}

// ParseKeys reads a JWK set (GET /api/event/keys).
func ParseKeys(b []byte) (fairlog.KeySet, error) {
	var j fairlog.JWKS
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	return j.KeySet()
}
