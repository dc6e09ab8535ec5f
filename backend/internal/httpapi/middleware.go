package httpapi

import (
	"bufio"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/hcw-home/hcw/backend/internal/clientinfo"
)

// withClientInfo resolves the client once and stores it in the context.
func withClientInfo(trusted clientinfo.Trusted, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := clientinfo.FromRequest(r, trusted)
		next.ServeHTTP(w, r.WithContext(clientinfo.NewContext(r.Context(), info)))
	})
}

// withAccessLog writes one line per request. The query string is left out
// on purpose: invite tokens travel there and must never reach a log.
func withAccessLog(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		info, _ := clientinfo.FromContext(r.Context())
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		logger.LogAttrs(r.Context(), slog.LevelInfo, "http request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.Int64("bytes", rec.bytes),
			slog.Int64("duration_ms", time.Since(start).Milliseconds()),
			slog.String("client_ip", info.IPString()),
			slog.String("scheme", info.Scheme),
			slog.String("host", info.Host),
			slog.String("user_agent", r.UserAgent()),
		)
	})
}

// withWriteDeadline bounds the time to write a response. It replaces the
// server-wide WriteTimeout, which would cut long-lived WebSockets.
func withWriteDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
		next.ServeHTTP(w, r)
	})
}

// recorder captures status and size. Unwrap lets http.ResponseController
// and the WebSocket library reach Hijack and Flush on the real writer.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Hijack is implemented directly as well, for code that type-asserts.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(r.ResponseWriter).Hijack()
	if err == nil && r.status == 0 {
		r.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}
