package conformance

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// The fuzz's routes are a hand-kept Go mirror of the engine's paths (fuzzRoutes), with field
// kinds that know each field's meaning. What the engine declares comes from its own OpenAPI
// document (help on the mount's root, built from each path's field declarations), so the run
// completes the mirror with it: a field the hand list lacks is fuzzed with a kind its OpenAPI
// type gives, and a path the mirror lacks becomes a route of its own. A field or path added to
// the engine is fuzzed without anyone remembering to list it here.

// openAPIRoutes returns the hand-kept routes completed with the engine's OpenAPI document, and a
// description of what the document added.
func (f *fuzzRun) openAPIRoutes() ([]*fuzzRoute, []string) {
	routes := make([]*fuzzRoute, 0, len(fuzzRoutes))
	for _, r := range fuzzRoutes {
		c := *r
		c.fields = map[string]fieldKind{}
		for k, v := range r.fields {
			c.fields[k] = v
		}
		routes = append(routes, &c)
	}
	r := f.send(f.finish(&fuzzReq{kind: "setup", op: logical.HelpOperation, path: ""}))
	doc, _ := r.Data()["openapi"].(map[string]interface{})
	paths, _ := doc["paths"].(map[string]interface{})
	if len(paths) == 0 {
		f.t.Fatalf("help on the mount's root: no openapi.paths to take the engine's fields from (HTTP %d %s)", r.Status, errorText(r))
	}
	var added []string
	names := make([]string, 0, len(paths))
	for p := range paths {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		item, _ := paths[p].(map[string]interface{})
		tmpl := openAPITemplate(p)
		var route *fuzzRoute
		for _, candidate := range routes {
			if candidate.tmpl == tmpl {
				route = candidate
			}
		}
		if route == nil {
			route = openAPIRoute(tmpl, item)
			routes = append(routes, route)
			added = append(added, fmt.Sprintf("path %s (operations %v)", tmpl, opNames(route.ops)))
		}
		for name, kind := range openAPIFields(item) {
			if name == route.capture {
				continue
			}
			if hand, known := route.fields[name]; known {
				if !kindsAgree(hand, kind) {
					f.t.Errorf("the fuzz's mirror says %s field %s is a %s; the engine's OpenAPI document says %s: update fuzzRoutes", tmpl, name, hand, kind)
				}
				continue
			}
			route.fields[name] = kind
			added = append(added, fmt.Sprintf("%s field %s (%s)", tmpl, name, kind))
		}
	}
	sort.Strings(added)
	return routes, added
}

// openAPITemplate turns "/roles/{name}" into the fuzz's "roles/<name>".
func openAPITemplate(p string) string {
	return openAPIParam.ReplaceAllString(strings.TrimPrefix(p, "/"), "<$1>")
}

var openAPIParam = regexp.MustCompile(`\{([^}]+)\}`)

// openAPIRoute makes a route of a path the hand-kept mirror lacks. Its captures match any
// segment text but a line terminator, so the fuzz never claims the engine must refuse a path
// it may well serve.
func openAPIRoute(tmpl string, item map[string]interface{}) *fuzzRoute {
	route := &fuzzRoute{tmpl: tmpl, fields: map[string]fieldKind{}, ops: map[logical.Operation]bool{}}
	pattern := regexp.QuoteMeta(tmpl)
	if m := regexp.MustCompile(`<([^>]+)>`).FindStringSubmatch(tmpl); m != nil {
		route.capture, route.pathField = m[1], m[1]
		pattern = strings.Replace(pattern, regexp.QuoteMeta(m[0]), `([^\n\r\x{2028}\x{2029}]+)`, 1)
	}
	if strings.HasSuffix(tmpl, "/") {
		pattern = strings.TrimSuffix(pattern, "/") + "/?" // a listing, asked for with or without its slash
	}
	route.re = regexp.MustCompile("^" + pattern + "$")
	if get, ok := item["get"].(map[string]interface{}); ok {
		if openAPIListing(get) {
			route.ops[logical.ListOperation] = true
		} else {
			route.ops[logical.ReadOperation] = true
		}
	}
	if _, ok := item["post"]; ok {
		route.ops[logical.CreateOperation] = true
		route.ops[logical.UpdateOperation] = true
	}
	if _, ok := item["delete"]; ok {
		route.ops[logical.DeleteOperation] = true
	}
	return route
}

func openAPIListing(get map[string]interface{}) bool {
	params, _ := get["parameters"].([]interface{})
	for _, p := range params {
		if m, ok := p.(map[string]interface{}); ok && m["name"] == "list" && m["in"] == "query" {
			return true
		}
	}
	return false
}

// openAPIFields: the body fields of the path's write, and the query fields of its read, with
// the kind their OpenAPI type gives.
func openAPIFields(item map[string]interface{}) map[string]fieldKind {
	out := map[string]fieldKind{}
	if post, ok := item["post"].(map[string]interface{}); ok {
		body, _ := post["requestBody"].(map[string]interface{})
		content, _ := body["content"].(map[string]interface{})
		media, _ := content["application/json"].(map[string]interface{})
		schema, _ := media["schema"].(map[string]interface{})
		props, _ := schema["properties"].(map[string]interface{})
		for name, p := range props {
			prop, _ := p.(map[string]interface{})
			out[name] = openAPIKind(prop)
		}
	}
	if get, ok := item["get"].(map[string]interface{}); ok {
		params, _ := get["parameters"].([]interface{})
		for _, p := range params {
			param, _ := p.(map[string]interface{})
			if param["in"] != "query" || param["name"] == "list" {
				continue
			}
			name, _ := param["name"].(string)
			schema, _ := param["schema"].(map[string]interface{})
			out[name] = openAPIKind(schema)
		}
	}
	return out
}

func openAPIKind(prop map[string]interface{}) fieldKind {
	switch {
	case prop["format"] == "duration":
		return kDuration
	case prop["type"] == "boolean":
		return kBool
	case prop["type"] == "integer":
		return kInt
	case prop["type"] == "array":
		return kList
	default:
		return kString
	}
}

// kindsAgree: whether a hand-kept kind is one of those the OpenAPI type allows.
func kindsAgree(hand, doc fieldKind) bool {
	switch doc {
	case kString:
		switch hand {
		case kDuration, kBool, kInt, kList, kBindings:
			return false
		}
		return true
	case kList:
		return hand.isList()
	default:
		return hand == doc
	}
}

func opNames(ops map[logical.Operation]bool) []string {
	var out []string
	for op := range ops {
		out = append(out, string(op))
	}
	sort.Strings(out)
	return out
}

func (k fieldKind) String() string {
	names := map[fieldKind]string{kString: "string", kAddress: "address", kToken: "token", kPEM: "PEM", kDuration: "duration",
		kGeneration: "generation", kBool: "bool", kSubject: "subject", kTemplate: "template", kName: "name", kBindings: "bindings",
		kRobotTemplate: "robot template", kInt: "int", kCron: "cron", kList: "list"}
	if n, ok := names[k]; ok {
		return n
	}
	return fmt.Sprintf("kind %d", int(k))
}

// TestFuzzOpenAPIRoutes: a path the hand-kept mirror lacks, as the engine's OpenAPI document
// describes it, becomes a route the fuzz aims at with the right operations, captures and field
// kinds (a document like the one a static-roles path of the engine would give).
func TestFuzzOpenAPIRoutes(t *testing.T) {
	var doc map[string]map[string]interface{}
	err := json.Unmarshal([]byte(`{
	  "/static-roles/": {"get": {"parameters": [{"in": "query", "name": "list", "schema": {"type": "string", "enum": ["true"]}}]}},
	  "/static-roles/{name}": {
	    "parameters": [{"in": "path", "name": "name", "required": true, "schema": {"type": "string"}}],
	    "get": {}, "delete": {},
	    "post": {"requestBody": {"content": {"application/json": {"schema": {"properties": {
	      "name": {"type": "string"}, "username": {"type": "string"}, "rotation_period": {"type": "string", "format": "duration"},
	      "rotate_now": {"type": "boolean"}, "retries": {"type": "integer"}, "bindings": {"type": "array", "items": {"type": "string"}}
	    }}}}}}
	  },
	  "/static-creds/{name}": {"get": {"parameters": [{"in": "query", "name": "ttl", "schema": {"type": "string", "format": "duration"}}]}}
	}`), &doc)
	if err != nil {
		t.Fatal(err)
	}
	list := openAPIRoute(openAPITemplate("/static-roles/"), doc["/static-roles/"])
	if list.tmpl != "static-roles/" || !reflect.DeepEqual(opNames(list.ops), []string{"list"}) || list.capture != "" {
		t.Errorf("static-roles/: tmpl %q, ops %v, capture %q; want static-roles/, [list], none", list.tmpl, opNames(list.ops), list.capture)
	}
	for path, want := range map[string]bool{"static-roles/": true, "static-roles": true, "static-roles/x": false} {
		if got := list.re.MatchString(path); got != want {
			t.Errorf("static-roles/ matches %q: %v, want %v", path, got, want)
		}
	}
	role := openAPIRoute(openAPITemplate("/static-roles/{name}"), doc["/static-roles/{name}"])
	if role.tmpl != "static-roles/<name>" || role.capture != "name" || role.pathField != "name" {
		t.Errorf("static-roles/{name}: tmpl %q, capture %q, path field %q", role.tmpl, role.capture, role.pathField)
	}
	if got := opNames(role.ops); !reflect.DeepEqual(got, []string{"create", "delete", "read", "update"}) {
		t.Errorf("static-roles/{name} operations %v", got)
	}
	for path, want := range map[string]string{"static-roles/ci": "ci", "static-roles/a.b-c": "a.b-c", "static-roles/": "", "static-roles/a\nb": ""} {
		m := role.re.FindStringSubmatch(path)
		got := ""
		if m != nil {
			got = m[1]
		}
		if got != want {
			t.Errorf("static-roles/<name> on %q captures %q, want %q", path, got, want)
		}
	}
	fields := openAPIFields(doc["/static-roles/{name}"])
	wantFields := map[string]fieldKind{"name": kString, "username": kString, "rotation_period": kDuration, "rotate_now": kBool, "retries": kInt, "bindings": kList}
	if !reflect.DeepEqual(fields, wantFields) {
		t.Errorf("static-roles/{name} fields %v, want %v", fields, wantFields)
	}
	if got := openAPIFields(doc["/static-creds/{name}"]); !reflect.DeepEqual(got, map[string]fieldKind{"ttl": kDuration}) {
		t.Errorf("static-creds/{name} query fields %v, want ttl as a duration", got)
	}
	if !kindsAgree(kCron, kString) || kindsAgree(kDuration, kString) || !kindsAgree(kBindings, kList) || kindsAgree(kInt, kBool) {
		t.Error("kindsAgree: a cron is a string, a duration is not a plain string, bindings are a list, an int is no bool")
	}
}
