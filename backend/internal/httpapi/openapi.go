package httpapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hcw-home/hcw/backend/internal/version"
)

// OpenAPI builds the OpenAPI 3.1 document of the registered operations.
// Schemas come from the Go types of the bodies, so a field added to a
// response type is documented by the same change.
func (rt *Router) OpenAPI() map[string]any {
	g := &schemaGen{components: map[string]any{}}
	paths := map[string]map[string]any{}
	for _, op := range rt.ops {
		item := paths[op.Path]
		if item == nil {
			item = map[string]any{}
			paths[op.Path] = item
		}
		o := map[string]any{
			"operationId": op.ID,
			"summary":     op.Summary,
			"responses":   g.responses(op),
		}
		if op.Description != "" {
			o["description"] = op.Description
		}
		if len(op.Tags) > 0 {
			o["tags"] = op.Tags
		}
		if params := append(pathParams(op.Path), queryParams(op.Query)...); len(params) > 0 {
			o["parameters"] = params
		}
		if t := bodyType(op.Request); t != nil {
			o["requestBody"] = map[string]any{
				"required": true,
				"content":  map[string]any{"application/json": map[string]any{"schema": g.schema(t)}},
			}
		}
		if len(op.RequestMediaTypes) > 0 {
			o["requestBody"] = map[string]any{"required": true, "content": binaryContent(op.RequestMediaTypes)}
		}
		switch op.Auth {
		case AuthNone:
			o["security"] = []any{}
		case AuthSession:
			o["security"] = []any{map[string]any{"session": []string{}}}
		case AuthAPIKey:
			o["security"] = []any{map[string]any{"apiKey": []string{}}}
		case AuthAny:
			o["security"] = []any{map[string]any{"session": []string{}}, map[string]any{"apiKey": []string{}}}
		}
		item[strings.ToLower(op.Method)] = o
	}
	g.components["Error"] = map[string]any{
		"type":     "object",
		"required": []string{"error"},
		"properties": map[string]any{
			"error": map[string]any{
				"type":     "object",
				"required": []string{"code", "message"},
				"properties": map[string]any{
					"code":    map[string]any{"type": "string", "description": "stable machine-readable code"},
					"message": map[string]any{"type": "string"},
					"field":   map[string]any{"type": "string", "description": "the request field at fault, when one is"},
				},
			},
		},
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       version.Name + " API",
			"version":     version.Version,
			"description": "REST API of the HCW@Home appliance. Errors always have the shape of the Error schema.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": g.components,
			"securitySchemes": map[string]any{
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": "__Host-hcw_session"},
				"apiKey":  map[string]any{"type": "http", "scheme": "bearer", "description": "an API key, hcw_..."},
			},
		},
	}
}

func (rt *Router) serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	// Built per request: cheap, and always the current routes.
	writeJSON(w, http.StatusOK, rt.OpenAPI())
}

var pathParam = regexp.MustCompile(`\{([A-Za-z0-9_]+)\.*\}`)

func queryParams(qs []QueryParam) []any {
	var out []any
	for _, q := range qs {
		typ := q.Type
		if typ == "" {
			typ = "string"
		}
		schema := map[string]any{"type": typ}
		if q.Format != "" {
			schema["format"] = q.Format
		}
		p := map[string]any{"name": q.Name, "in": "query", "required": false, "schema": schema}
		if q.Description != "" {
			p["description"] = q.Description
		}
		out = append(out, p)
	}
	return out
}

// binaryContent documents a body that is not JSON in each of its types.
func binaryContent(types []string) map[string]any {
	out := map[string]any{}
	for _, t := range types {
		out[t] = map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}
	}
	return out
}

func pathParams(path string) []any {
	var out []any
	for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
		out = append(out, map[string]any{
			"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"},
		})
	}
	return out
}

type schemaGen struct {
	components map[string]any
}

func (g *schemaGen) responses(op Operation) map[string]any {
	out := map[string]any{}
	ok := map[string]any{"description": http.StatusText(op.Status)}
	if t := bodyType(op.Response); t != nil {
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(t)}}
	}
	if len(op.ResponseMediaTypes) > 0 {
		ok["content"] = binaryContent(op.ResponseMediaTypes)
	}
	out[strconv.Itoa(op.Status)] = ok
	for _, status := range op.Errors {
		out[strconv.Itoa(status)] = map[string]any{
			"description": http.StatusText(status),
			"content": map[string]any{"application/json": map[string]any{
				"schema": map[string]any{"$ref": "#/components/schemas/Error"},
			}},
		}
	}
	return out
}

var timeType = reflect.TypeOf(time.Time{})
var rawMessageType = reflect.TypeOf(json.RawMessage{})

// schema returns the JSON Schema of t. Named struct types become
// components referenced by $ref.
func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawMessageType:
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		s := g.schema(t.Elem())
		if typ, ok := s["type"].(string); ok {
			s["type"] = []string{typ, "null"}
			return s
		}
		return map[string]any{"oneOf": []any{s, map[string]any{"type": "null"}}}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t)
		}
		name := t.Name()
		if _, seen := g.components[name]; !seen {
			g.components[name] = map[string]any{} // placeholder breaks cycles
			g.components[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	default:
		return map[string]any{}
	}
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for i := range t.NumField() {
		f := t.Field(i)
		// An embedded struct without a JSON name has its fields promoted,
		// as encoding/json does (also when its type is unexported).
		if f.Anonymous && f.Tag.Get("json") == "" && f.Type.Kind() == reflect.Struct {
			inner := g.object(f.Type)
			for k, v := range inner["properties"].(map[string]any) {
				props[k] = v
			}
			if r, ok := inner["required"].([]string); ok {
				required = append(required, r...)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s := g.schema(f.Type)
		if doc := f.Tag.Get("doc"); doc != "" {
			if _, isRef := s["$ref"]; isRef {
				s = map[string]any{"allOf": []any{s}, "description": doc}
			} else {
				s["description"] = doc
			}
		}
		props[name] = s
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") && f.Type.Kind() != reflect.Pointer {
			required = append(required, name)
		}
	}
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}
