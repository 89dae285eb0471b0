// Package httpapi is apply-gateway's HTTP port: participant and admin routes.
// It decodes requests, calls the admission and admin services, and maps
// their errors to the API contract in one place (toAPIError).
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/terning-farewell/farewell/pkg/fairlog"
	"github.com/terning-farewell/farewell/pkg/httpserver"
	"github.com/terning-farewell/farewell/pkg/token"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/admin"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/admission"
	"github.com/terning-farewell/farewell/services/apply-gateway/internal/ledger"
)

// Stable error codes of apply-gateway.
const (
	CodeInvalidToken        = "INVALID_TOKEN"
	CodeEventNotOpen        = "EVENT_NOT_OPEN"
	CodeEventClosed         = "EVENT_CLOSED"
	CodeAlreadyApplied      = "ALREADY_APPLIED"
	CodeApplicationNotFound = "APPLICATION_NOT_FOUND"
	CodeInvalidAdminKey     = "INVALID_ADMIN_KEY"
	CodeInvalidStock        = "INVALID_STOCK"
	CodeInvalidWindow       = "INVALID_WINDOW"
	CodeBusy                = "TOO_MANY_REQUESTS"
	// CodeStockBelowWinners refuses a total below the winners so far.
	CodeStockBelowWinners = "STOCK_BELOW_WINNERS"
	// CodeStockChangeInProgress asks to retry while another gateway's stock
	// change waits for the broker (503 with Retry-After).
	CodeStockChangeInProgress = "STOCK_CHANGE_IN_PROGRESS"
	// CodeApplicationInProgress asks to retry while the participant's first
	// application still waits for the broker (503 with Retry-After).
	CodeApplicationInProgress = "APPLICATION_IN_PROGRESS"
)

// Applier is the participant side.
type Applier interface {
	ApplyFor(ctx context.Context, email, delivery string) (*fairlog.Receipt, error)
	Status(ctx context.Context, email string) (admission.View, error)
	SetSoldOut(bool)
}

// Admin is the administrator side.
type Admin interface {
	SetStock(ctx context.Context, total int64) (admin.Stats, error)
	SetWindow(ctx context.Context, opensAt, closesAt time.Time) (admin.Stats, error)
	Stats(ctx context.Context) (admin.Stats, error)
	ExportWinners(ctx context.Context, page func([]admin.Winner) error) error
}

// Verifier checks participant tokens.
type Verifier interface {
	Verify(raw string) (token.Claims, error)
}

// Handlers holds the route handlers.
type Handlers struct {
	applier  Applier
	admin    Admin
	verifier Verifier
	adminKey [32]byte
	log      *slog.Logger
	// adminFailures turns repeated wrong admin keys from one client into 429.
	adminFailures *failureLimiter
	// ledger serves the decision log and the receipt keys (WithLedger).
	ledger Ledger
}

// NewHandlers returns the handlers; adminKey is compared in constant time,
// and a client that sends DefaultAdminFailures wrong keys within
// DefaultAdminFailureWindow is refused the admin API until the window ends.
func NewHandlers(a Applier, ad Admin, v Verifier, adminKey string, log *slog.Logger) *Handlers {
	return &Handlers{
		applier: a, admin: ad, verifier: v, adminKey: sha256.Sum256([]byte(adminKey)), log: log,
		adminFailures: newFailureLimiter(DefaultAdminFailures, DefaultAdminFailureWindow, defaultAdminClients, nil),
	}
}

// fail answers err and logs it once when it is the server's fault.
func (h *Handlers) fail(c *gin.Context, err error) {
	apiErr := toAPIError(err)
	if apiErr.Status >= http.StatusInternalServerError {
		h.log.Error("request failed", "route", c.FullPath(), "status", apiErr.Status, "err", err)
	}
	httpserver.WriteError(c, apiErr)
}

// Register mounts the routes.
func (h *Handlers) Register(e *gin.Engine) {
	e.POST("/api/event/apply", h.participant(h.apply))
	e.GET("/api/event/status", h.participant(h.status))
	// The fairness evidence is public: anyone may check it.
	e.GET("/api/event/keys", h.keys)
	e.GET("/api/event/log", h.streamLog)
	e.GET("/api/event/log/head", h.logHead)
	ad := e.Group("/api/admin", h.requireAdminKey)
	ad.POST("/event/stock", h.setStock)
	ad.GET("/event/stock", h.stats)
	ad.GET("/event", h.stats)
	ad.PUT("/event/window", h.setWindow)
	ad.GET("/event/winners", h.exportWinners)
}

// participant runs next for the participant the request's bearer token
// names, or answers 401 without calling it.
func (h *Handlers) participant(next func(*gin.Context, token.Claims)) gin.HandlerFunc {
	return func(c *gin.Context) {
		raw, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		if !ok || raw == "" {
			httpserver.WriteError(c, errTokenMissing)
			return
		}
		claims, err := h.verifier.Verify(strings.TrimSpace(raw))
		if err != nil {
			httpserver.WriteError(c, errTokenInvalid)
			return
		}
		next(c, claims)
	}
}

// requireAdminKey lets a request through only with the admin key. The key
// is hashed first, so the comparison takes the same time whatever the
// length or the prefix of the guess. Every attempt goes through the failure
// limiter, keyed by the client (httpserver.ClientKey of the TCP peer, or of
// the address a trusted proxy names; an IPv6 /64 is one client): too many wrong keys from one client and it gets 429 with
// Retry-After, right key or not, until the window ends. A missing or empty
// key is 403 but not counted: it guesses nothing, and counting it would let
// a scanner without any key lock the operators out.
func (h *Handlers) requireAdminKey(c *gin.Context) {
	raw := c.GetHeader("X-ADMIN-KEY")
	given := sha256.Sum256([]byte(raw))
	ok := raw != "" && subtle.ConstantTimeCompare(given[:], h.adminKey[:]) == 1
	client := httpserver.ClientKey(c.ClientIP())
	wait, blocked, failures := h.adminFailures.attempt(client, !ok && raw != "")
	switch {
	case blocked:
		httpserver.WriteError(c, httpserver.NewError(http.StatusTooManyRequests, httpserver.CodeTooManyRequests,
			"관리자 키 인증 실패가 너무 많습니다. 잠시 후 다시 시도해 주세요. (too many failed admin key attempts)").WithRetryAfter(wait))
	case !ok:
		if failures == h.adminFailures.max {
			// Once per window and client: the address, never the key.
			h.log.Warn("admin key failures reached the limit; refusing this client until the window ends",
				"client_ip", client, "failures", failures, "window", h.adminFailures.window.String())
		}
		httpserver.WriteError(c, errInvalidAdminKey)
	default:
		c.Next()
	}
}

func (h *Handlers) apply(c *gin.Context, p token.Claims) {
	receipt, err := h.applier.ApplyFor(c.Request.Context(), p.Email, p.Delivery)
	if err != nil {
		h.fail(c, err)
		return
	}
	if receipt == nil {
		httpserver.WriteBody(c, acceptedBody)
		return
	}
	httpserver.WriteOK(c, http.StatusAccepted, acceptedMessage, gin.H{"status": admission.Pending, "receipt": receipt})
}

// acceptedMessage is the message of every 202.
const acceptedMessage = "신청이 접수되었습니다. 결과는 이메일로 안내됩니다."

// The answers of the participant routes that never change, encoded once
// (most of a herd's answers are one of these).
var (
	acceptedBody = httpserver.MustBody(http.StatusAccepted, acceptedMessage,
		map[string]admission.Status{"status": admission.Pending})
	errTokenMissing = httpserver.NewError(http.StatusUnauthorized, httpserver.CodeUnauthorized,
		"인증 토큰이 필요합니다. (Authorization: Bearer <token> required)")
	errTokenInvalid = httpserver.NewError(http.StatusUnauthorized, CodeInvalidToken,
		"유효하지 않거나 만료된 토큰입니다. (invalid or expired token)")
	// Encoded once, like the right key's way through: a wrong key costs no
	// encoding the right one does not (TestAdminKeyTimingDoesNotDependOnTheGuess).
	errInvalidAdminKey = httpserver.NewError(http.StatusForbidden, CodeInvalidAdminKey, "관리자 키가 올바르지 않습니다. (invalid admin key)")
	errAlreadyApplied  = httpserver.NewError(http.StatusConflict, CodeAlreadyApplied, "이미 신청하셨습니다. (already applied)")
	errSoldOut         = httpserver.NewError(http.StatusConflict, CodeEventClosed, "선착순 마감되었습니다. (event closed: sold out)")
	errNotOpen         = httpserver.NewError(http.StatusForbidden, CodeEventNotOpen, "이벤트 신청 기간이 아닙니다. (event not open)")
	errBusy            = httpserver.NewError(http.StatusServiceUnavailable, httpserver.CodeUnavailable,
		"요청이 많아 잠시 후 다시 시도해 주세요. (too busy, retry shortly)").WithRetryAfter(time.Second)
	errUnavailable = httpserver.NewError(http.StatusServiceUnavailable, httpserver.CodeUnavailable,
		"일시적으로 요청을 처리할 수 없습니다. 잠시 후 다시 시도해 주세요. (temporarily unavailable)").WithRetryAfter(5 * time.Second)
)

func (h *Handlers) status(c *gin.Context, p token.Claims) {
	v, err := h.applier.Status(c.Request.Context(), p.Email)
	if err != nil {
		h.fail(c, err)
		return
	}
	httpserver.WriteOK(c, http.StatusOK, "신청 상태 조회에 성공했습니다.", statusResult(v))
}

type stockRequest struct {
	// Count stays raw so that "5", 1.5 and 1e3 are refused, not coerced.
	Count json.RawMessage `json:"count"`
}

func (h *Handlers) setStock(c *gin.Context) {
	var req stockRequest
	if apiErr := httpserver.DecodeJSON(c, &req); apiErr != nil {
		httpserver.WriteError(c, apiErr)
		return
	}
	if len(req.Count) == 0 || string(req.Count) == "null" {
		httpserver.WriteError(c, httpserver.NewError(http.StatusBadRequest, CodeInvalidStock, "count 값이 필요합니다. (count is required)"))
		return
	}
	n, err := strconv.ParseInt(string(req.Count), 10, 64)
	if err != nil {
		httpserver.WriteError(c, httpserver.NewError(http.StatusBadRequest, CodeInvalidStock, "count는 정수여야 합니다. (count must be an integer)"))
		return
	}
	st, err := h.admin.SetStock(c.Request.Context(), n)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.applier.SetSoldOut(st.SoldOut)
	httpserver.WriteOK(c, http.StatusOK, "재고가 설정되었습니다.", gin.H{
		"message": "이벤트 재고가 설정되었습니다.", "stock": st.Total, "remaining": st.Remaining,
	})
}

type windowRequest struct {
	OpensAt  string `json:"opensAt"`
	ClosesAt string `json:"closesAt"`
}

func (h *Handlers) setWindow(c *gin.Context) {
	var req windowRequest
	if apiErr := httpserver.DecodeJSON(c, &req); apiErr != nil {
		httpserver.WriteError(c, apiErr)
		return
	}
	opens, err1 := time.Parse(time.RFC3339, req.OpensAt)
	closes, err2 := time.Parse(time.RFC3339, req.ClosesAt)
	if err1 != nil || err2 != nil {
		httpserver.WriteError(c, httpserver.NewError(http.StatusBadRequest, CodeInvalidWindow,
			"opensAt, closesAt은 RFC 3339 시각이어야 합니다. (opensAt and closesAt must be RFC 3339 times)"))
		return
	}
	st, err := h.admin.SetWindow(c.Request.Context(), opens, closes)
	if err != nil {
		h.fail(c, err)
		return
	}
	httpserver.WriteOK(c, http.StatusOK, "이벤트 기간이 설정되었습니다.", statsResult(st))
}

func (h *Handlers) stats(c *gin.Context) {
	st, err := h.admin.Stats(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	httpserver.WriteOK(c, http.StatusOK, "이벤트 현황입니다.", statsResult(st))
}

// exportWinners streams the winners as CSV (rank, email, decidedAt), one
// Redis page at a time: the body is written and flushed as the scan goes,
// never built in memory. Until the first page arrives a failure is the usual
// JSON error; after that the status line is gone, so the connection is cut
// instead and the client sees an incomplete download, never a short file
// that looks whole.
func (h *Handlers) exportWinners(c *gin.Context) {
	ctx := c.Request.Context()
	rc := http.NewResponseController(c.Writer)
	started := false
	start := func() error {
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Header("Content-Disposition", `attachment; filename="winners.csv"`)
		c.Header("Cache-Control", "no-store")
		// nginx passes the rows on as they come instead of buffering them.
		c.Header("X-Accel-Buffering", "no")
		c.Status(http.StatusOK)
		started = true
		_, err := io.WriteString(c.Writer, "rank,email,decidedAt\n")
		return err
	}
	w := csv.NewWriter(c.Writer)
	err := h.admin.ExportWinners(ctx, func(ws []admin.Winner) error {
		if !started {
			if err := start(); err != nil {
				return err
			}
		}
		// Each page gets the server's usual write budget, however long the export.
		_ = rc.SetWriteDeadline(time.Now().Add(exportPageBudget))
		for _, win := range ws {
			decided := ""
			if !win.DecidedAt.IsZero() {
				decided = win.DecidedAt.UTC().Format(time.RFC3339Nano)
			}
			if err := w.Write([]string{strconv.FormatInt(win.Rank, 10), csvSafe(win.Email), decided}); err != nil {
				return err
			}
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return err
		}
		return rc.Flush()
	})
	switch {
	case err != nil && !started:
		h.fail(c, err)
	case err != nil:
		h.log.Warn("winners export cut short", "err", err)
		panic(http.ErrAbortHandler)
	case !started:
		// No winner yet: the header line alone.
		if err := start(); err != nil {
			h.log.Warn("winners export: write failed", "err", err)
		}
	}
}

// exportPageBudget is the write deadline each page of the export gets.
const exportPageBudget = 15 * time.Second

// csvSafe keeps a spreadsheet from reading an email as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@", rune(s[0])) {
		return "'" + s
	}
	return s
}

func statsResult(st admin.Stats) gin.H {
	window := gin.H{"opensAt": nil, "closesAt": nil}
	if !st.OpensAt.IsZero() {
		window["opensAt"] = st.OpensAt.UTC().Format(time.RFC3339)
	}
	if !st.ClosesAt.IsZero() {
		window["closesAt"] = st.ClosesAt.UTC().Format(time.RFC3339)
	}
	return gin.H{
		"eventId": st.EventID, "total": st.Total, "stock": st.Total, "remaining": st.Remaining,
		"winners": st.Winners, "losers": st.Losers, "pending": st.Pending, "soldOut": st.SoldOut, "window": window,
	}
}

// toAPIError maps every domain error to the API contract, in one place.
func toAPIError(err error) *httpserver.Error {
	switch {
	case errors.Is(err, admission.ErrAlreadyApplied):
		return errAlreadyApplied
	case errors.Is(err, admission.ErrSoldOut):
		return errSoldOut
	case errors.Is(err, admission.ErrNotOpen):
		// Before the window: Retry-After counts down to the opening.
		var notYet *admission.NotOpenError
		if errors.As(err, &notYet) {
			if wait := time.Until(notYet.OpensAt); wait > 0 {
				return errNotOpen.WithRetryAfter(wait)
			}
		}
		return errNotOpen
	case errors.Is(err, admission.ErrNotFound):
		return httpserver.NewError(http.StatusNotFound, CodeApplicationNotFound, "신청 내역이 없습니다. (application not found)")
	case errors.Is(err, admission.ErrBusy):
		return errBusy
	case errors.Is(err, admin.ErrInvalidStock):
		return httpserver.NewError(http.StatusBadRequest, CodeInvalidStock, "count는 0 이상 10,000,000 이하의 정수여야 합니다. (count must be 0..10000000)")
	case errors.Is(err, admission.ErrInProgress):
		return httpserver.NewError(http.StatusServiceUnavailable, CodeApplicationInProgress,
			"먼저 보낸 신청을 처리하고 있습니다. 잠시 후 다시 시도해 주세요. (your first application is still being processed)").WithRetryAfter(time.Second)
	case errors.Is(err, admin.ErrStockBelowWinners):
		return httpserver.NewError(http.StatusBadRequest, CodeStockBelowWinners,
			"당첨자 수보다 적은 재고로 바꿀 수 없습니다. (count is below the winners so far)")
	case errors.Is(err, admin.ErrChangeInProgress):
		return httpserver.NewError(http.StatusServiceUnavailable, CodeStockChangeInProgress,
			"다른 재고 변경을 처리하고 있습니다. 잠시 후 다시 시도해 주세요. (another stock change is in flight)").WithRetryAfter(time.Second)
	case errors.Is(err, admin.ErrWindowOutOfRange):
		return httpserver.NewError(http.StatusBadRequest, CodeInvalidWindow,
			"opensAt, closesAt은 1970-01-01T00:00:01Z부터 9999-12-31T23:59:59.999Z 사이여야 합니다. (window times must be within 1970-01-01T00:00:01Z..9999-12-31T23:59:59.999Z)")
	case errors.Is(err, admin.ErrInvalidWindow):
		return httpserver.NewError(http.StatusBadRequest, CodeInvalidWindow, "opensAt은 closesAt보다 빨라야 합니다. (opensAt must be before closesAt)")
	case errors.Is(err, admission.ErrUnavailable), errors.Is(err, admin.ErrUnavailable), errors.Is(err, ledger.ErrUnavailable):
		return errUnavailable
	default:
		return httpserver.NewError(http.StatusInternalServerError, httpserver.CodeInternal, "서버 내부 오류가 발생했습니다. (internal error)")
	}
}
