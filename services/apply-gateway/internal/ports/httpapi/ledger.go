package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/terning-farewell/farewell/pkg/fairlog"
	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/admission"
)

// Ledger is the fairness evidence: the decision log, its signed head and
// the public keys of receipts and heads.
type Ledger interface {
	Head(ctx context.Context) (fairlog.Head, error)
	Stream(ctx context.Context, n int64, emit func(lines []string) error) error
	Keys() fairlog.JWKS
}

// WithLedger serves the decision log and the keys from l.
func (h *Handlers) WithLedger(l Ledger) *Handlers {
	h.ledger = l
	return h
}

var errNoLedger = httpserver.NewError(http.StatusNotFound, httpserver.CodeNotFound, "공개된 기록이 없습니다. (no decision log here)")

// statusResult is the status answer: the status, a winner's rank, and the
// place in line from the receipt of the 202 with the receipt itself.
func statusResult(v admission.View) gin.H {
	out := gin.H{"status": v.Status}
	if v.Status == admission.Success {
		out["rank"] = v.Rank
	}
	if v.Receipt != "" {
		var r fairlog.Receipt
		if err := json.Unmarshal([]byte(v.Receipt), &r); err == nil {
			out["placeInLine"] = gin.H{"partition": r.Partition, "offset": r.Offset}
			out["receipt"] = r
		}
	}
	return out
}

func (h *Handlers) keys(c *gin.Context) {
	if h.ledger == nil {
		httpserver.WriteError(c, errNoLedger)
		return
	}
	c.Header("Cache-Control", "public, max-age=60")
	c.JSON(http.StatusOK, h.ledger.Keys())
}

func (h *Handlers) logHead(c *gin.Context) {
	if h.ledger == nil {
		httpserver.WriteError(c, errNoLedger)
		return
	}
	head, err := h.ledger.Head(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, head)
}

// streamLog writes the decision log as newline-delimited JSON, up to the
// head read when the request started (its hash and length are in the
// X-Farewell-Log-Head and X-Farewell-Log-Entries headers), a page at a
// time. As with the winners export, a failure after the first byte cuts
// the connection, so a short log never looks whole.
func (h *Handlers) streamLog(c *gin.Context) {
	if h.ledger == nil {
		httpserver.WriteError(c, errNoLedger)
		return
	}
	ctx := c.Request.Context()
	head, err := h.ledger.Head(ctx)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Content-Type", "application/x-ndjson")
	c.Header("Cache-Control", "no-store")
	c.Header("X-Accel-Buffering", "no")
	c.Header("X-Farewell-Log-Head", head.Hash)
	c.Header("X-Farewell-Log-Entries", strconv.FormatInt(head.Entries, 10))
	c.Header("X-Farewell-Log-Frozen", strconv.FormatBool(head.Frozen))
	c.Status(http.StatusOK)
	rc := http.NewResponseController(c.Writer)
	err = h.ledger.Stream(ctx, head.Entries, func(lines []string) error {
		_ = rc.SetWriteDeadline(time.Now().Add(exportPageBudget))
		for _, line := range lines {
			if _, err := io.WriteString(c.Writer, line+"\n"); err != nil {
				return err
			}
		}
		return rc.Flush()
	})
	if err != nil {
		h.log.Warn("decision log stream cut short", "err", err)
		panic(http.ErrAbortHandler)
	}
}
