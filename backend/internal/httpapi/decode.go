package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Error codes of request validation.
const (
	CodeInvalidRequest       = "invalid_request"
	CodeBodyTooLarge         = "body_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
)

// RequestError is a refusal of the caller's input: one clear message,
// naming the field when one is at fault.
type RequestError struct {
	Status  int
	Code    string
	Field   string
	Message string
}

func (e *RequestError) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// FieldError is the usual validation failure: 400 invalid_request on field.
func FieldError(field, format string, args ...any) *RequestError {
	return &RequestError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Validator is implemented by request bodies that check themselves after
// decoding. The error should be a *RequestError from FieldError.
type Validator interface {
	Validate() error
}

// DecodeJSON reads one JSON object of at most max bytes into dst, refusing
// unknown fields, trailing data and a content type other than JSON, then
// runs dst's Validate. Every refusal is a *RequestError.
func DecodeJSON(w http.ResponseWriter, r *http.Request, max int64, dst any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &RequestError{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMediaType, Message: "the body must be application/json"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, max)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		if err != nil {
			if tooLarge := decodeError(err, max); tooLarge.Code == CodeBodyTooLarge {
				return tooLarge
			}
		}
		return &RequestError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "the body must hold exactly one JSON object"}
	}
	if v, ok := dst.(Validator); ok {
		if err := v.Validate(); err != nil {
			var re *RequestError
			if errors.As(err, &re) {
				return re
			}
			return &RequestError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: err.Error()}
		}
	}
	return nil
}

func decodeError(err error, max int64) *RequestError {
	var (
		syntax  *json.SyntaxError
		typ     *json.UnmarshalTypeError
		tooBig  *http.MaxBytesError
		invalid = func(field, msg string) *RequestError {
			return &RequestError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Field: field, Message: msg}
		}
	)
	switch {
	case errors.As(err, &tooBig):
		return &RequestError{Status: http.StatusRequestEntityTooLarge, Code: CodeBodyTooLarge, Message: fmt.Sprintf("the body is larger than %d bytes", max)}
	case errors.As(err, &syntax):
		return invalid("", fmt.Sprintf("malformed JSON at byte %d", syntax.Offset))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return invalid("", "the body must be a JSON object")
		}
		return invalid(field, "must be "+jsonKind(typ.Type.Kind().String()))
	case errors.Is(err, io.EOF):
		return invalid("", "the body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("", "the body is truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalid(field, "is not a known field")
	default:
		return invalid("", "the body is not valid JSON")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	default:
		if strings.HasPrefix(goKind, "int") || strings.HasPrefix(goKind, "uint") {
			return "an integer"
		}
		if strings.HasPrefix(goKind, "float") {
			return "a number"
		}
		return "of another type"
	}
}

// WriteRequestError answers a refusal in the API's error shape.
func WriteRequestError(w http.ResponseWriter, err *RequestError) {
	writeJSON(w, err.Status, errorBody{Error: errorDetail{Code: err.Code, Message: err.Message, Field: err.Field}})
}

// QueryLimit reads the optional ?limit= of a paged list: 0 when absent
// (the store's default), else an integer from 1 to max.
func QueryLimit(r *http.Request, max int) (int, *RequestError) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, FieldError("limit", "must be 1 to %d", max)
	}
	return n, nil
}
