package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
)

type fakeVerifier struct {
	res audit.Result
	err error
}

func (f fakeVerifier) Verify(context.Context) (audit.Result, error) { return f.res, f.err }

func TestVerifyHandler(t *testing.T) {
	for _, tc := range []struct {
		name   string
		v      fakeVerifier
		status int
		body   string
	}{
		{"intact", fakeVerifier{res: audit.Result{Intact: true, Rows: 7}}, http.StatusOK,
			`{"intact":true,"rows":7,"first_broken_seq":0,"reason":""}`},
		{"broken", fakeVerifier{res: audit.Result{Rows: 7, FirstBrokenSeq: 3, Reason: "hash does not match the row's content"}},
			http.StatusConflict, `{"intact":false,"rows":7,"first_broken_seq":3,"reason":"hash does not match the row's content"}`},
		{"error", fakeVerifier{err: errors.New("connection refused to 10.0.0.5")}, http.StatusInternalServerError,
			`{"error":{"code":"internal","message":"audit verification failed"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			audit.VerifyHandler(tc.v, httpapi.WriteError).ServeHTTP(rec,
				httptest.NewRequest(http.MethodGet, "/api/v1/admin/audit/verify", nil))
			assert.Equal(t, tc.status, rec.Code)
			assert.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"))
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			require.True(t, json.Valid(rec.Body.Bytes()))
			assert.JSONEq(t, tc.body, rec.Body.String())
		})
	}
}
