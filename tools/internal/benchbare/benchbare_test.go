package benchbare

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHandlerAnswersTheAcceptedEnvelope(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	resp, err := http.Post(srv.URL+Path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("answer %d %q, want 202 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var env struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
		Result struct {
			Status string `json:"status"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if env.Status != 202 || env.Code != "OK" || env.Result.Status != "PENDING" {
		t.Fatalf("envelope %+v, want 202 OK PENDING", env)
	}
}
