package conformance

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"pachyderm-vault-plugin/test/conformance/harness"
)

// Static robots in the fuzz: the hand-kept routes of static-roles/, static-creds/ and
// rotate-role/ (path-static-roles.ts, path-static-creds.ts, path-rotate-role.ts) with kinds that
// know each field's meaning, valid requests on a static role of the run's own (fz-static), and
// mutation bases that write whole static roles so that one spoiled value reaches the schedule's,
// the grace's and the bindings' checks.

// fuzzStaticName is the static role the valid requests use; generated requests never write or
// delete it (a delete pachd interrupts waits for a rollback tick, which the fuzz does not send),
// they only read and rotate it.
const (
	fuzzStaticName    = "fz-static"
	fuzzStaticSubject = "robot:fuzz-static"
)

var fuzzStaticRoutes = []*fuzzRoute{
	{tmpl: "static-roles/", re: regexp.MustCompile(`^static-roles/?$`), fields: map[string]fieldKind{}, ops: opSet(logical.ListOperation)},
	{tmpl: "static-roles/<name>", re: regexp.MustCompile(`^static-roles/([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)$`), capture: "name", pathField: "name",
		fields: map[string]fieldKind{"name": kName, "subject": kSubject, "role_bindings": kBindings, "rotation_period": kDuration,
			"rotation_schedule": kCron, "rotation_window": kDuration, "rotation_grace": kDuration},
		ops: opSet(logical.ReadOperation, logical.CreateOperation, logical.UpdateOperation, logical.DeleteOperation)},
	{tmpl: "static-creds/<name>", re: regexp.MustCompile(`^static-creds/([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)$`), capture: "name", pathField: "name",
		fields: map[string]fieldKind{"name": kName}, ops: opSet(logical.ReadOperation)},
	{tmpl: "rotate-role/<name>", re: regexp.MustCompile(`^rotate-role/([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)$`), capture: "name", pathField: "name",
		fields: map[string]fieldKind{"name": kName}, ops: opSet(logical.CreateOperation, logical.UpdateOperation)},
}

var fuzzStaticTargets = []weighted[string]{{4, "static-roles/"}, {14, "static-roles/<name>"}, {6, "static-creds/<name>"}, {6, "rotate-role/<name>"}}

// staticPath is a generated request's path on a static route: the run's static role for reads
// and rotations now and then (so they reach a role that exists), a name segment otherwise.
func (f *fuzzRun) staticPath(target string) (string, bool) {
	prefix := strings.TrimSuffix(target, "<name>")
	switch target {
	case "static-roles/":
		return pick(f.rng, []string{"static-roles/", "static-roles"}), true
	case "static-creds/<name>", "rotate-role/<name>":
		if f.chance(0.45) {
			return prefix + fuzzStaticName, true
		}
		return prefix + f.nameSegment(), true
	case "static-roles/<name>":
		return prefix + f.nameSegment(), true
	}
	return "", false
}

func (f *fuzzRun) validStaticRole() *fuzzReq {
	return f.finish(&fuzzReq{kind: "valid", op: logical.UpdateOperation, path: "static-roles/" + fuzzStaticName,
		body: map[string]interface{}{"subject": fuzzStaticSubject, "role_bindings": "repo:images=repoReader", "rotation_period": "1h",
			"rotation_schedule": "", "rotation_window": "0", "rotation_grace": "5m"}})
}

// validStaticRequests: the run's static role written as known-good, then read, rotated or listed.
func (f *fuzzRun) validStaticRequests() []*fuzzReq {
	then := []*fuzzReq{
		{kind: "valid", op: logical.ReadOperation, path: "static-creds/" + fuzzStaticName},
		{kind: "valid", op: logical.UpdateOperation, path: "rotate-role/" + fuzzStaticName},
		{kind: "valid", op: logical.ReadOperation, path: "static-roles/" + fuzzStaticName},
		{kind: "valid", op: logical.ListOperation, path: "static-roles/"},
	}[f.rng.Intn(4)]
	return []*fuzzReq{f.validStaticRole(), f.finish(then)}
}

// staticMutationBases: whole static-role writes (a period with a grace and bindings; a cron
// schedule with a window) on names of their own, each with its own robot.
func (f *fuzzRun) staticMutationBases() []fuzzBase {
	n := strconv.Itoa(f.rng.Intn(8))
	return []fuzzBase{
		{logical.UpdateOperation, "static-roles/fz-smut-" + n, map[string]interface{}{"subject": "robot:fuzz-smut-" + n,
			"rotation_period": "2h", "rotation_grace": "10m", "role_bindings": "repo:edges=repoWriter"}},
		{logical.CreateOperation, "static-roles/fz-smut-" + n, map[string]interface{}{"subject": "robot:fuzz-smut-" + n,
			"rotation_schedule": "0 3 * * *", "rotation_window": "1h", "rotation_period": "0", "rotation_grace": "0"}},
	}
}

// staticMustFail: what a static-roles write must be refused for whatever is stored: a subject
// that is no robot (a new role refuses it, an existing one refuses any subject but its own); and,
// there and on config, a rotation period with a schedule (the two are mutually exclusive, and a
// schedule that is no cron expression is refused anyway).
func staticMustFail(q *fuzzReq) []string {
	var out []string
	if (q.tmpl == "static-roles/<name>" || q.tmpl == "config") && nonzeroPeriod(q.body["rotation_period"]) {
		if s, ok := q.body["rotation_schedule"].(string); ok && jsTrim(s) != "" {
			out = append(out, "both rotation_period and rotation_schedule")
		}
	}
	if q.tmpl != "static-roles/<name>" {
		return out
	}
	return append(out, staticSubjectMustFail(q)...)
}

// nonzeroPeriod: a duration the fuzz's valid values hold that is not zero (or that the engine
// refuses for a reason of its own: a refusal is what the rule asks for).
func nonzeroPeriod(v interface{}) bool {
	switch x := v.(type) {
	case string:
		switch x {
		case "1h", "30m", "10m", "5m", "90s", "3600", "1h30m", "1d", "2h", "15s", "720h", "24h":
			return true
		}
	case json.Number:
		return x == "600"
	}
	return false
}

func staticSubjectMustFail(q *fuzzReq) []string {
	v, given := q.body["subject"]
	if !given || v == nil {
		return nil
	}
	if s, ok := v.(string); ok {
		if t := jsTrim(s); t != "" && !strings.HasPrefix(t, "robot:") {
			return []string{"static role subject that is not robot:<name>"}
		}
		return nil
	}
	if _, ok := jsString(v); ok {
		return []string{"static role subject that is not a robot:<name> string"}
	}
	return nil
}

// checkStaticAnswer: an accepted static-roles write stores numbers for the durations it was given
// and a clean subject; a static-creds read that succeeds carries a token and no lease.
func (f *fuzzRun) checkStaticAnswer(q *fuzzReq, r *harness.Result) {
	writing := q.op == logical.UpdateOperation || q.op == logical.CreateOperation
	switch {
	case q.tmpl == "static-roles/<name>" && writing:
		role := f.storedJSON("static-role/"+q.capture, "an accepted static role write", q, r)
		if role == nil {
			return
		}
		f.expectNumbers("an accepted static role write stored a non-numeric duration", role, q, r,
			"rotation_period_seconds", "rotation_window_seconds", "rotation_grace_seconds")
		if subject, ok := role["subject"].(string); ok {
			f.checkSubjectChars("stored a static role with a subject", subject, q, r)
			if !strings.HasPrefix(subject, "robot:") {
				f.fail("stored a static role whose subject is not a robot", subject, q, r)
			}
		}
	case q.tmpl == "static-creds/<name>" && q.op == logical.ReadOperation:
		token, _ := r.Data()["token"].(string)
		if token == "" || r.Resp.Secret != nil {
			f.fail("a successful static-creds read answered without a token, or with a lease", "", q, r)
		}
		if token != "" {
			f.e.mu.Lock()
			f.e.issued = append(f.e.issued, token)
			f.e.mu.Unlock()
		}
	}
}

// withoutStaticRoles: the stored state but the static roles. A static-roles write or rotate-role
// that pachd's outage fails keeps what it stored (the settings written, the failure and when to
// retry, bindings to grant): the tick finishes it once pachd is back (static-role-write.ts), so
// only a refusal that is not pachd's failure must leave a static role as it was.
func withoutStaticRoles(state map[string][]byte) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range state {
		if !strings.HasPrefix(k, "static-role/") {
			out[k] = v
		}
	}
	return out
}

// fuzzBase is a valid request a mutation spoils one thing of.
type fuzzBase struct {
	op   logical.Operation
	path string
	body map[string]interface{}
}

// TestFuzzOracleStatic: the fuzz's own judgement of static-roles writes.
func TestFuzzOracleStatic(t *testing.T) {
	route := routeIn(fuzzRoutes, "static-roles/<name>")
	if route == nil {
		t.Fatal("no hand-kept static-roles/<name> route")
	}
	for _, c := range []struct {
		body map[string]interface{}
		want bool
	}{
		{map[string]interface{}{"subject": "robot:a", "rotation_period": "1h"}, false},
		{map[string]interface{}{"subject": " robot:a ", "rotation_period": "1h"}, false},
		{map[string]interface{}{"rotation_grace": "5m"}, false},
		{map[string]interface{}{"subject": "", "rotation_period": "1h"}, false}, // an existing role keeps its subject
		{map[string]interface{}{"subject": "user:alice@example.com"}, true},
		{map[string]interface{}{"subject": "ROBOT:a"}, true},
		{map[string]interface{}{"subject": json.Number("7")}, true},
		{map[string]interface{}{"subject": true}, true},
		{map[string]interface{}{"rotation_period": "1h", "rotation_schedule": "0 3 * * *"}, true},
		{map[string]interface{}{"rotation_period": json.Number("600"), "rotation_schedule": "x"}, true},
		{map[string]interface{}{"rotation_period": "0", "rotation_schedule": "0 3 * * *"}, false},
		{map[string]interface{}{"rotation_period": "1h", "rotation_schedule": " "}, false},
	} {
		q := &fuzzReq{kind: "fuzz", op: logical.UpdateOperation, path: "static-roles/x", body: c.body, route: route, tmpl: route.tmpl, capture: "x"}
		if got := len(mustFailReasons(q)) > 0; got != c.want {
			t.Errorf("static-roles/x %v: must fail %v (%v), want %v", c.body, got, mustFailReasons(q), c.want)
		}
	}
	if route.fields["rotation_schedule"] != kCron || route.fields["role_bindings"] != kBindings || route.fields["subject"] != kSubject ||
		route.fields["rotation_grace"] != kDuration || route.fields["rotation_window"] != kDuration || route.fields["rotation_period"] != kDuration {
		t.Errorf("static-roles/<name> kinds %v", route.fields)
	}
}
