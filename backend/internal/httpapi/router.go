package httpapi

import (
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/hcw-home/hcw/backend/internal/authz"
)

// Auth says how an operation authenticates. The OpenAPI document declares
// it, and the authorisation layer enforces it.
type Auth string

// Authentication schemes.
const (
	AuthNone    Auth = "none"    // public: health, version, sign-in steps
	AuthSession Auth = "session" // the __Host- session cookie
	AuthAPIKey  Auth = "api_key" // Authorization: Bearer hcw_...
	AuthAny     Auth = "any"     // session or API key
)

// Operation documents one route. Registering a route and documenting it
// are the same act, so the OpenAPI document cannot drift from the routes.
type Operation struct {
	// Method and Path form the ServeMux pattern; Path may hold {name}
	// wildcards, which become OpenAPI path parameters.
	Method, Path string
	// ID is the OpenAPI operationId (camelCase, unique).
	ID string
	// Summary is one line for humans.
	Summary string
	// Description is the longer text: rules and limits (optional).
	Description string
	// Tags group operations in the document.
	Tags []string
	// Auth is how the caller authenticates.
	Auth Auth
	// Permission is what the caller's role must be granted (package
	// authz). Required unless Auth is AuthNone.
	Permission authz.Permission
	// PartialSession lets a session that has passed the password step only
	// call the operation (completing or enrolling the second factor).
	PartialSession bool
	// Query documents the query parameters.
	Query []QueryParam
	// Request is a value of the JSON request body's type (nil: no body).
	Request any
	// RequestMediaTypes are the accepted types of a request body that is
	// not JSON (an image upload), documented as binary. Request is nil.
	RequestMediaTypes []string
	// Response is a value of the JSON response body's type (nil: empty).
	Response any
	// ResponseMediaTypes are the types of a success body that is not JSON
	// (an image), documented as binary. Response is nil.
	ResponseMediaTypes []string
	// Status is the success status (default 200).
	Status int
	// Errors lists the error statuses the operation may answer with
	// (always in the error shape).
	Errors []int
	// MaxBody bounds the request body in bytes (default DefaultMaxBody).
	MaxBody int64
}

// QueryParam documents one optional query parameter.
type QueryParam struct {
	Name string
	// Type is the JSON Schema type: "string" (the default) or "integer".
	Type string
	// Format is the JSON Schema format, e.g. "date-time" (optional).
	Format      string
	Description string
}

// DefaultMaxBody is the request body limit of an operation that sets none.
const DefaultMaxBody = 64 << 10

var operationID = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)

// Router registers the API's documented operations on a ServeMux.
type Router struct {
	mux *http.ServeMux
	ops []Operation
	// internal are the patterns of the service-to-service routes.
	internal []string
	// wrap decorates every documented handler (write deadline, metrics).
	wrap func(op Operation, h http.Handler) http.Handler
}

// Handle registers h for op. It panics on an incomplete or duplicate
// operation: that is a programming error, caught by the first test.
func (rt *Router) Handle(op Operation, h http.Handler) {
	if op.Method == "" || !strings.HasPrefix(op.Path, "/") || !operationID.MatchString(op.ID) || op.Summary == "" || op.Auth == "" {
		panic(fmt.Sprintf("httpapi: incomplete operation %+v", op))
	}
	if (op.Request != nil && len(op.RequestMediaTypes) > 0) || (op.Response != nil && len(op.ResponseMediaTypes) > 0) {
		panic(fmt.Sprintf("httpapi: operation %s has both a JSON and a raw body", op.ID))
	}
	if op.Auth != AuthNone && !authz.Known(op.Permission) {
		panic(fmt.Sprintf("httpapi: operation %s needs a known permission, not %q", op.ID, op.Permission))
	}
	for _, o := range rt.ops {
		if o.ID == op.ID || (o.Method == op.Method && o.Path == op.Path) {
			panic(fmt.Sprintf("httpapi: duplicate operation %s %s (%s)", op.Method, op.Path, op.ID))
		}
	}
	if op.Status == 0 {
		op.Status = http.StatusOK
	}
	if op.MaxBody == 0 {
		op.MaxBody = DefaultMaxBody
	}
	slices.Sort(op.Errors)
	rt.ops = append(rt.ops, op)
	rt.mux.Handle(op.Pattern(), rt.wrap(op, h))
}

// InternalPrefix starts every service-to-service path. The edge never
// forwards it, so only the appliance's internal network reaches it.
const InternalPrefix = "/internal/"

// HandleInternal registers h for a service-to-service route (media nodes,
// the edge: contract/nodeapi documents them). It is not part of the public
// API, so the OpenAPI document leaves it out, and h authenticates its
// callers itself. id names it in metrics. It panics on a path outside
// InternalPrefix or a duplicate.
func (rt *Router) HandleInternal(id, method, path string, h http.Handler) {
	if method == "" || !strings.HasPrefix(path, InternalPrefix) || !operationID.MatchString(id) {
		panic(fmt.Sprintf("httpapi: bad internal route %s %s (%s)", method, path, id))
	}
	pattern := method + " " + path
	if slices.Contains(rt.internal, pattern) {
		panic(fmt.Sprintf("httpapi: duplicate internal route %s", pattern))
	}
	rt.internal = append(rt.internal, pattern)
	rt.mux.Handle(pattern, rt.wrap(Operation{ID: id, Method: method, Path: path, Auth: AuthNone}, h))
}

// InternalRoutes returns the patterns of the internal routes.
func (rt *Router) InternalRoutes() []string { return slices.Clone(rt.internal) }

// HandleFunc is Handle for a function.
func (rt *Router) HandleFunc(op Operation, h http.HandlerFunc) { rt.Handle(op, h) }

// Operations returns the registered operations in registration order.
func (rt *Router) Operations() []Operation { return slices.Clone(rt.ops) }

// Pattern is the ServeMux pattern of the operation.
func (op Operation) Pattern() string { return op.Method + " " + op.Path }

// bodyType is the reflect type of a documented body, nil for none.
func bodyType(v any) reflect.Type {
	if v == nil {
		return nil
	}
	return reflect.TypeOf(v)
}
