package api

import (
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/florad/florad/internal/asset"
	"github.com/florad/florad/internal/auth"
	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/validation"
)

// Error is the one error a handler sends. Every public error is built in
// this file: the catalog below and fromError, which maps internal errors.
type Error struct {
	Status  int
	Code    string
	Message string
	Fields  []validation.Field
	// Required and Available are the 402 figures.
	Required  *int64
	Available *int64
	// RetryAfter, in seconds, for 429 and 503.
	RetryAfter int
	// cause is logged, never sent.
	cause error
	// quiet leaves a 5xx out of the error log: its cause is logged once
	// elsewhere (a Clerk outage, by the verifier) rather than per request.
	quiet bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// The catalog of public errors.
func errUnauthorized() *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "unauthorized",
		Message: "Missing or malformed Authorization header; send 'Authorization: Bearer <API key>'."}
}

func errInvalidAPIKey() *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "invalid_api_key", Message: "Invalid API key."}
}

// errMetricsUnauthorized: /metrics has a token and the request did not
// carry it.
func errMetricsUnauthorized() *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "unauthorized",
		Message: "/metrics needs 'Authorization: Bearer <the metrics token>' (the server's --metrics-token)."}
}

func errForbidden(msg string) *Error {
	return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: msg}
}

// errMissingScope is a valid key without the scope a route needs.
func errMissingScope(scope string) *Error {
	return errForbidden("This API key lacks the " + scope + " scope.")
}

func errNoWorkspace() *Error {
	return errForbidden("This Clerk API key is valid, but its subject is linked to no workspace on this server.")
}

// errKeyCap is a create that would take the key past its daily cap; the
// figures are the key's, and the workspace's balance is untouched.
func errKeyCap(e *store.KeyCapError) *Error {
	return &Error{Status: http.StatusPaymentRequired, Code: "insufficient_credits",
		Message: "Insufficient credits: this API key may spend " + strconv.FormatInt(e.Cap, 10) +
			" credits a day (UTC) and has " + strconv.FormatInt(e.Available, 10) + " left today; this run needs " +
			strconv.FormatInt(e.Required, 10) + ".",
		Required: &e.Required, Available: &e.Available}
}

// errAuthUnavailable is a key that could not be checked because Clerk is
// down: retry later, the key may well be good.
func errAuthUnavailable(cause error) *Error {
	e := errUnavailable(cause)
	e.Message = "API keys cannot be verified right now; try again shortly."
	e.quiet = true
	return e
}

func errInvalidJSON(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_json", Message: msg}
}

func errValidation(v *validation.Error) *Error {
	msg := "The request is invalid."
	if len(v.Fields) == 1 {
		msg = v.Fields[0].Name + ": " + v.Fields[0].Message
	} else if len(v.Fields) > 1 {
		msg = v.Fields[0].Name + ": " + v.Fields[0].Message + " (and other problems, see fields)"
	}
	fields := v.Fields
	if v.Omitted > 0 {
		// The answer stays small whatever the body: the first problems,
		// then one entry saying how many more there were.
		fields = append(fields[:len(fields):len(fields)], validation.Field{Name: moreFieldsName,
			Message: "and " + itoa(v.Omitted) + " more problems not listed; fix the ones above and send again"})
	}
	return &Error{Status: http.StatusBadRequest, Code: "input_validation_error", Message: msg, Fields: fields}
}

// moreFieldsName names the summary entry that ends a capped fields list.
const moreFieldsName = "(more)"

func errNotFound(msg string) *Error {
	return &Error{Status: http.StatusNotFound, Code: "not_found", Message: msg}
}

func errWebhookSignature() *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "invalid_signature",
		Message: "The webhook's signature does not verify, or its timestamp is too old."}
}

func errMethodNotAllowed() *Error {
	return &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "This method is not allowed on this path."}
}

func errPayloadTooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: "payload_too_large",
		Message: "The request body is larger than " + humanBytes(limit) + "."}
}

// errRequestTimeout is a body still arriving when the server's read
// timeout passed (a client sending a byte now and then to hold a
// connection). The JSON is not at fault, so it is not invalid_json.
func errRequestTimeout(cause error) *Error {
	return &Error{Status: http.StatusRequestTimeout, Code: "request_timeout",
		Message: "The request body did not arrive in time; send it again, all at once.", cause: cause}
}

// errBodyUnreadable is a body cut off or badly framed (a broken chunked
// encoding, a connection closed half way).
func errBodyUnreadable(cause error) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "body_unreadable",
		Message: "The request body could not be read to its end; send it again.", cause: cause}
}

func errUnsupportedMediaType(msg string) *Error {
	return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: msg}
}

func errInvalidMultipart(cause error) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_multipart",
		Message: "The request body is not valid multipart/form-data.", cause: cause}
}

func errStorageQuotaExceeded(e *store.StorageQuotaError) *Error {
	msg := "Storage quota exceeded: this workspace stores " + humanBytes(e.Used) + " in assets of its " +
		humanBytes(e.Limit) + " quota"
	if e.Size > 0 {
		msg += ", and this file is " + humanBytes(e.Size)
	}
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: "storage_quota_exceeded",
		Message: msg + ". Older assets are removed by the server's retention setting, or the operator can raise the quota (--storage-quota)."}
}

func errInsufficientCredits(e *store.InsufficientCreditsError) *Error {
	return &Error{Status: http.StatusPaymentRequired, Code: "insufficient_credits",
		Message:  "Insufficient credits: this run needs more credits than the workspace has.",
		Required: &e.Required, Available: &e.Available}
}

func errIdempotencyConflict() *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "idempotency_conflict",
		Message: "This idempotency key was already used for a different request."}
}

// errRateLimited says when to come back in whole seconds, as the contract
// has it. An exact wait (retry-after-ms, which FLORA's SDKs would prefer)
// sends every refused client back at the same instant for the one token
// there is; a second lets the bucket refill for a crowd.
func errRateLimited(l *rateLimiter, wait time.Duration) *Error {
	seconds := max(1, int(math.Ceil(wait.Seconds())))
	return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
		Message: "Rate limit exceeded: this workspace's limit is " + strconv.FormatFloat(float64(l.limit), 'f', -1, 64) +
			" requests per second, " + itoa(l.burst) + " at once; retry after " + itoa(seconds) + " s.",
		RetryAfter: seconds}
}

func errTooManyStreams(limit int) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
		Message: "This workspace already has " + itoa(limit) + " streams open on this server, the most it may; " +
			"close one, or poll the run instead.", RetryAfter: 1}
}

func errUnavailable(cause error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: "service_unavailable",
		Message: "The service is temporarily unavailable; try again shortly.", RetryAfter: 5, cause: cause}
}

func errInternal(cause error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: "unknown_error",
		Message: "An unknown error occurred.", cause: cause}
}

// fromError maps what a service returned to a public error.
func fromError(err error) *Error {
	var (
		apiErr *Error
		v      *validation.Error
		ice    *store.InsufficientCreditsError
		sqe    *store.StorageQuotaError
		tl     *asset.TooLargeError
		kce    *store.KeyCapError
	)
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.As(err, &v):
		return errValidation(v)
	case errors.As(err, &ice):
		return errInsufficientCredits(ice)
	case errors.As(err, &sqe):
		return errStorageQuotaExceeded(sqe)
	case errors.As(err, &tl):
		return errPayloadTooLarge(tl.Limit)
	case errors.Is(err, asset.ErrIdempotencyConflict):
		return errIdempotencyConflict()
	case errors.As(err, &kce):
		return errKeyCap(kce)
	case errors.Is(err, store.ErrNotFound):
		return errNotFound("Not found.")
	case errors.Is(err, run.ErrIdempotencyConflict):
		return errIdempotencyConflict()
	case errors.Is(err, run.ErrTechniqueUnavailable):
		reason := strings.TrimPrefix(err.Error(), run.ErrTechniqueUnavailable.Error()+": ")
		return errValidation(validation.New("technique", "this technique cannot run on this server now: "+reason))
	case errors.Is(err, auth.ErrInvalidKey):
		return errInvalidAPIKey()
	}
	return errInternal(err)
}

type errorBody struct {
	Error errorJSON `json:"error"`
}

type errorJSON struct {
	Code      string      `json:"code"`
	Message   string      `json:"message"`
	Fields    []fieldJSON `json:"fields,omitempty"`
	Required  *int64      `json:"required,omitempty"`
	Available *int64      `json:"available,omitempty"`
}

type fieldJSON struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// writeError logs the internal chain and sends only the safe part.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := fromError(err)
	if e.Status >= 500 && !e.quiet {
		s.logger.ErrorContext(r.Context(), "request failed", "request_id", requestID(r.Context()),
			"status", e.Status, "error", e.cause)
	} else if e.cause != nil {
		s.logger.InfoContext(r.Context(), "request refused", "request_id", requestID(r.Context()),
			"code", e.Code, "error", e.cause)
	}
	if responseStarted(w) {
		// A stream that failed after its 200 went out: a second status
		// cannot be sent, the error is logged above, and the client sees
		// the stream end.
		return
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", itoa(e.RetryAfter))
	}
	body := errorBody{Error: errorJSON{Code: e.Code, Message: e.Message, Required: e.Required, Available: e.Available}}
	for _, f := range e.Fields {
		body.Error.Fields = append(body.Error.Fields, fieldJSON{Field: f.Name, Message: f.Message})
	}
	writeJSON(w, e.Status, body)
}

// logLevelFor is used by the access log.
func logLevelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}
