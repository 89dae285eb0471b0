//go:build !fuzzing

package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/terning-farewell/farewell/pkg/fairlog"
	"github.com/terning-farewell/farewell/pkg/redisx"
	"github.com/terning-farewell/farewell/pkg/testinfra"
)

var testSalt = []byte("a participant salt of 32 bytes or more")

func newSigner(t *testing.T) *fairlog.Signer {
	t.Helper()
	s, err := fairlog.NewSigner(fairlog.KeyConfig{ID: "r1", Seed: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (g *gateway) getJSON(path string, v any) http.Header {
	g.t.Helper()
	resp, err := http.Get(g.srv.URL + path)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		g.t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		g.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.Header
}

// TestReceiptCarriesTheAcknowledgedPlaceInLine: every 202 carries a receipt
// signed with the key served at /api/event/keys, naming the partition and
// offset Kafka stored the application at and the participant's salted hash;
// status shows the same place and receipt.
func TestReceiptCarriesTheAcknowledgedPlaceInLine(t *testing.T) {
	g := newGatewayFull(t, gatewayOptions{signer: newSigner(t)})
	g.setStock(10)
	var jwks fairlog.JWKS
	g.getJSON("/api/event/keys", &jwks)
	keys, err := jwks.KeySet()
	if err != nil {
		t.Fatal(err)
	}
	emails := []string{"first@example.com", "second@example.com", "third@example.com"}
	receipts := map[string]fairlog.Receipt{}
	for _, email := range emails {
		resp, env := g.do("POST", "/api/event/apply", "", g.bearer(email))
		expect(t, resp, env, http.StatusAccepted, "OK")
		var res struct {
			Status  string          `json:"status"`
			Receipt fairlog.Receipt `json:"receipt"`
		}
		if err := json.Unmarshal(env.Result, &res); err != nil || res.Status != "PENDING" {
			t.Fatalf("result %s: the current frontend's status field is gone (%v)", env.Result, err)
		}
		if err := keys.VerifyReceipt(res.Receipt); err != nil {
			t.Fatalf("receipt of %s does not verify with the served keys: %v", email, err)
		}
		if res.Receipt.Participant != fairlog.Participant(testSalt, g.eventID, email) || res.Receipt.Event != g.eventID {
			t.Fatalf("receipt %+v does not name %s of %s", res.Receipt, email, g.eventID)
		}
		receipts[email] = res.Receipt
	}
	msgs := testinfra.ReadUntilIdle(t, g.brokers, g.appsTopic, 2*time.Second)
	if len(msgs) != len(emails) {
		t.Fatalf("%d messages in Kafka, want %d", len(msgs), len(emails))
	}
	for _, m := range msgs {
		r := receipts[string(m.Key)]
		if r.Partition != m.Partition || r.Offset != m.Offset {
			t.Fatalf("receipt of %s says partition %d offset %d; Kafka stored it at %d/%d", m.Key, r.Partition, r.Offset, m.Partition, m.Offset)
		}
	}
	resp, env := g.do("GET", "/api/event/status", "", g.bearer("second@example.com"))
	expect(t, resp, env, http.StatusOK, "OK")
	var st struct {
		Status      string `json:"status"`
		PlaceInLine struct {
			Partition int32 `json:"partition"`
			Offset    int64 `json:"offset"`
		} `json:"placeInLine"`
		Receipt fairlog.Receipt `json:"receipt"`
	}
	if err := json.Unmarshal(env.Result, &st); err != nil {
		t.Fatal(err)
	}
	want := receipts["second@example.com"]
	if st.Status != "PENDING" || st.PlaceInLine.Offset != want.Offset || st.Receipt != want {
		t.Fatalf("status %s; want PENDING at offset %d with the receipt of the 202", env.Result, want.Offset)
	}
	// A winner's status carries the rank.
	g.rdb.HSet(context.Background(), redisx.KeysFor(g.eventID).Decisions, "second@example.com", "SUCCESS:2")
	_, env = g.do("GET", "/api/event/status", "", g.bearer("second@example.com"))
	if string(env.Result) == "" || !json.Valid(env.Result) {
		t.Fatalf("status result %s", env.Result)
	}
	var won struct {
		Status string `json:"status"`
		Rank   int64  `json:"rank"`
	}
	if err := json.Unmarshal(env.Result, &won); err != nil || won.Status != "SUCCESS" || won.Rank != 2 {
		t.Fatalf("winner's status %s; want SUCCESS with rank 2", env.Result)
	}
}

// TestDecisionLogIsStreamedUpToItsSignedHead: the gateway streams the log
// copy stock-consumer keeps in Redis as NDJSON, exactly the entries its
// signed head counts.
func TestDecisionLogIsStreamedUpToItsSignedHead(t *testing.T) {
	signer := newSigner(t)
	g := newGatewayFull(t, gatewayOptions{signer: signer})
	ctx := context.Background()
	var head fairlog.Head
	g.getJSON("/api/event/log/head", &head)
	if head.Entries != 0 || head.Hash != fairlog.GenesisHash {
		t.Fatalf("empty log's head = %+v", head)
	}
	prev := fairlog.GenesisHash
	var lines []string
	for i, e := range []fairlog.Entry{
		{Kind: fairlog.KindStock, Stock: 1},
		{Kind: fairlog.KindDecision, Participant: "p1", Status: "SUCCESS", Rank: 1, Stock: 1},
		{Kind: fairlog.KindDecision, Participant: "p2", Offset: 1, Status: "FAILURE", Stock: 1},
		{Kind: fairlog.KindFreeze},
	} {
		e.Seq, e.Event = int64(i+1), g.eventID
		sealed, line := fairlog.Seal(prev, e)
		prev = sealed.Hash
		lines = append(lines, string(line))
	}
	g.rdb.RPush(ctx, redisx.KeysFor(g.eventID).Log, lines[0], lines[1], lines[2], lines[3])

	g.getJSON("/api/event/log/head", &head)
	keys := fairlog.KeySet{"r1": signer.Keys()[0].Key}
	if err := keys.VerifyHead(head); err != nil || head.Entries != 4 || head.Hash != prev || !head.Frozen {
		t.Fatalf("head %+v (%v); want 4 entries ending %s, frozen, signed", head, err, prev)
	}
	resp, err := http.Get(g.srv.URL + "/api/event/log")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "application/x-ndjson" || resp.Header.Get("X-Farewell-Log-Head") != prev {
		t.Fatalf("headers %v", resp.Header)
	}
	sc := bufio.NewScanner(resp.Body)
	var got []string
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	if len(got) != len(lines) {
		t.Fatalf("streamed %d lines, want %d", len(got), len(lines))
	}
	for i := range lines {
		if got[i] != lines[i] {
			t.Fatalf("line %d = %s, want %s", i+1, got[i], lines[i])
		}
	}
}
