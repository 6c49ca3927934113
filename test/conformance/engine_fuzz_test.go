package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"pachyderm-vault-plugin/test/conformance/harness"
)

// TestEngineFuzz sends thousands of generated, mostly malformed requests to
// build/pachyderm through Vault's plugin client, for both pachd generations:
// every path and field the engine serves, unknown paths and fields, all
// operations, wrong types, huge and long-digit numbers, unicode trouble, deep
// nesting, prototype-ish keys, 1 MiB values; a share of valid requests, and
// valid requests with one thing spoiled, so the fuzz gets deep. The paths
// and fields are a hand-kept mirror (fuzzRoutes) completed at the start of
// the run with the engine's own OpenAPI document, so a field or path added
// to the engine is fuzzed too (engine_fuzz_openapi_test.go); config's
// rotation fields get durations, integers and cron expressions built to
// break a parser (engine_fuzz_values_test.go); static-roles/, static-creds/
// and rotate-role/ have hand-kept kinds, valid requests and mutation bases
// of their own (engine_fuzz_static_test.go). Before
// fuzzing the engine gets a working config, three roles and a static role; pachd goes down
// for one contiguous slice of the run. What must hold whatever is sent:
//
//   - no answer is a 5xx, except 502/503 while pachd is down;
//   - every request is answered within fuzzRequestTimeout;
//   - the plugin process never dies or restarts;
//   - a refused request (status >= 400) leaves the stored config, roles and
//     static roles byte for byte as they were (a static role that pachd's
//     outage failed keeps what was written, for the tick to finish);
//   - requests that cannot be right are refused: unknown paths, unsupported
//     operations, wrong-typed fields, negative durations, non-integers for
//     integer fields, rotation_schedule values that are no 5-field cron
//     expression (field count, range, step 0, backwards ranges), blank
//     required values, both subject and subject_template, templates with an
//     empty placeholder segment, both rotation_period and rotation_schedule,
//     a static role's subject that is not robot:<name>;
//   - an accepted write stores numbers for the durations it was given, and
//     no subject with control characters (which the engine says it refuses)
//     or invisible/bidi-control characters (U+200B, U+202E, ...);
//   - an issuance that succeeds carries a lease and a token, for such a
//     clean subject; a static-creds read a token and no lease;
//   - the valid requests succeed (outside the outage);
//   - no response, error or log line holds the admin token (checkNoLeaks,
//     with every known-good admin token the run wrote).
//
// After an accepted config write or delete the known-good config is written
// back, so later answers are not blamed on a fuzzed config.
//
// Environment: FUZZ_SEED (default: time based; always logged), FUZZ_REQUESTS
// (generated requests per generation, default 5000), FUZZ_TRACE=1 (log every
// request and its answer). A seed gives the same requests whatever the
// engine answers.
//
//	cd test/conformance && FUZZ_SEED=42 PLUGIN_BUILD_DIR=$PWD/../../build go test -run TestEngineFuzz -count=1 -v .
func TestEngineFuzz(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("FUZZ_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("FUZZ_SEED=%q: %v", s, err)
		}
		seed = v
	}
	n := fuzzDefaultRequests
	if s := os.Getenv("FUZZ_REQUESTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("FUZZ_REQUESTS=%q: want a positive integer", s)
		}
		n = v
	}
	rerun := fmt.Sprintf("cd test/conformance && FUZZ_SEED=%d FUZZ_REQUESTS=%d PLUGIN_BUILD_DIR=$PWD/../../build go test -run 'TestEngineFuzz' -count=1 -v .", seed, n)
	t.Logf("fuzz seed %d, %d generated requests per pachd generation; rerun with:\n    %s", seed, n, rerun)
	forEachGeneration(t, func(t *testing.T, e *engineEnv) {
		t.Logf("fuzz seed %d (rerun: %s)", seed, rerun)
		f := newFuzzRun(t, e, seed, n)
		f.run()
	})
}

const (
	fuzzDefaultRequests = 5000
	fuzzValidShare      = 0.12 // share of steps that send valid requests
	fuzzMutationShare   = 0.40 // share of steps that spoil one thing of a valid request
	fuzzOutageShare     = 0.05 // share of the steps during which pachd is down
	fuzzBigResult       = 128 << 10
	fuzzMaxClasses      = 80
	// Everything the engine does answers within milliseconds here (pachd is
	// local or refused at once); a request still open after this hangs.
	fuzzRequestTimeout = 3 * time.Second
)

// ---- routes: a Go mirror of the engine's path patterns (plugin/pachyderm/path-*.ts)

type fieldKind int

const (
	kString fieldKind = iota
	kAddress
	kToken
	kPEM
	kDuration
	kGeneration
	kBool
	kSubject
	kTemplate
	kName
	kBindings
	kRobotTemplate
	kInt
	kCron
	kList // a list of strings, as an OpenAPI array field (a comma-separated string or a JSON list)
)

func (k fieldKind) isDuration() bool { return k == kDuration }
func (k fieldKind) isBool() bool     { return k == kBool }
func (k fieldKind) isList() bool     { return k == kBindings || k == kList }

type fuzzRoute struct {
	tmpl    string
	re      *regexp.Regexp
	capture string // name of the path capture ("" if none)
	// pathField is the field only the URL may give (the capture's, even where this form of the
	// path leaves it out): the engine refuses it in the body.
	pathField string
	fields    map[string]fieldKind
	ops       map[logical.Operation]bool // operations the path serves (help: all)
}

func opSet(ops ...logical.Operation) map[logical.Operation]bool {
	m := map[logical.Operation]bool{}
	for _, op := range ops {
		m[op] = true
	}
	return m
}

// configFields: what config declares; a field added to the engine and not here is still
// fuzzed, with the kind its OpenAPI type gives (engine_fuzz_openapi_test.go).
var configFields = map[string]fieldKind{
	"pachd_address":              kAddress,
	"admin_token":                kToken,
	"ttl":                        kDuration,
	"max_ttl":                    kDuration,
	"pachd_tls_ca":               kPEM,
	"request_timeout":            kDuration,
	"pachd_max_in_flight":        kInt,
	"generation":                 kGeneration,
	"rotation_period":            kDuration,
	"rotation_schedule":          kCron,
	"rotation_window":            kDuration,
	"disable_automated_rotation": kBool,
	"verify_connection":          kBool,
	"discard_root_token":         kBool,
}

// JavaScript's `.` (no s flag) does not match line terminators; \w is ASCII.
var fuzzRoutes = append([]*fuzzRoute{
	{tmpl: "config/rotate-root", re: regexp.MustCompile(`^config/rotate-root$`),
		fields: map[string]fieldKind{"ttl": kDuration}, ops: opSet(logical.CreateOperation, logical.UpdateOperation)},
	{tmpl: "config", re: regexp.MustCompile(`^config$`), fields: configFields,
		ops: opSet(logical.ReadOperation, logical.CreateOperation, logical.UpdateOperation, logical.DeleteOperation)},
	{tmpl: "roles/", re: regexp.MustCompile(`^roles/?$`), fields: map[string]fieldKind{}, ops: opSet(logical.ListOperation)},
	{tmpl: "roles/<name>", re: regexp.MustCompile(`^roles/([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)$`), capture: "name", pathField: "name",
		fields: map[string]fieldKind{"name": kName, "subject": kSubject, "subject_template": kTemplate, "ttl": kDuration, "max_ttl": kDuration,
			"role_bindings": kBindings, "robot_name_template": kRobotTemplate},
		ops: opSet(logical.ReadOperation, logical.CreateOperation, logical.UpdateOperation, logical.DeleteOperation)},
	{tmpl: "creds/<name>", re: regexp.MustCompile(`^creds/([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)$`), capture: "name", pathField: "name",
		fields: map[string]fieldKind{"name": kName, "ttl": kDuration}, ops: opSet(logical.ReadOperation)},
	{tmpl: "login/<subject>", re: regexp.MustCompile(`^login/([^\n\r\x{2028}\x{2029}]+)$`), capture: "subject", pathField: "subject",
		fields: map[string]fieldKind{"subject": kSubject, "username": kSubject, "ttl": kDuration, "max_ttl": kDuration},
		ops:    opSet(logical.CreateOperation, logical.UpdateOperation)},
	{tmpl: "login", re: regexp.MustCompile(`^login$`), pathField: "subject",
		fields: map[string]fieldKind{"subject": kSubject, "username": kSubject, "ttl": kDuration, "max_ttl": kDuration},
		ops:    opSet(logical.CreateOperation, logical.UpdateOperation)},
	{tmpl: "revoke", re: regexp.MustCompile(`^revoke$`), fields: map[string]fieldKind{"user_token": kToken},
		ops: opSet(logical.CreateOperation, logical.UpdateOperation)},
	{tmpl: "version/client-only", re: regexp.MustCompile(`^version/client-only$`), fields: map[string]fieldKind{}, ops: opSet(logical.ReadOperation)},
	{tmpl: "version", re: regexp.MustCompile(`^version$`), fields: map[string]fieldKind{}, ops: opSet(logical.ReadOperation)},
}, fuzzStaticRoutes...)

// classify returns the route serving path and its capture, or nil.
func (f *fuzzRun) classify(path string) (*fuzzRoute, string) {
	for _, r := range f.routes {
		if m := r.re.FindStringSubmatch(path); m != nil {
			c := ""
			if len(m) > 1 {
				c = m[1]
			}
			return r, c
		}
	}
	return nil, ""
}

func (f *fuzzRun) routeByTmpl(tmpl string) *fuzzRoute { return routeIn(f.routes, tmpl) }

func routeIn(routes []*fuzzRoute, tmpl string) *fuzzRoute {
	for _, r := range routes {
		if r.tmpl == tmpl {
			return r
		}
	}
	return nil
}

// ---- one run

type fuzzReq struct {
	kind    string // fuzz, valid, restore, setup
	op      logical.Operation
	path    string
	body    map[string]interface{}
	route   *fuzzRoute
	capture string
	tmpl    string
	size    int
	// reasons the request must not succeed
	mustFail []string
}

type fuzzFailure struct {
	what    string
	count   int
	example string
	exSize  int
	where   map[string]bool
}

type fuzzSlow struct {
	d    time.Duration
	desc string
}

type fuzzRun struct {
	t    *testing.T
	e    *engineEnv
	rng  *rand.Rand
	seed int64
	n    int

	// routes: fuzzRoutes completed with the engine's OpenAPI document; targets: what requests
	// are aimed at, with the paths the document added.
	routes  []*fuzzRoute
	targets []weighted[string]

	adminToken    string
	validSubjects []string
	tokens        []string // issued by valid requests, for valid revokes

	outFrom, outTo int
	outage         bool
	pendingRestore bool
	wedged         bool
	trace          bool // FUZZ_TRACE=1: log every request

	snap       map[string][]byte
	snapWrites int64
	snapOK     bool

	// statistics
	sent        map[string]int
	inOutage    int
	rotations   int
	hangs       int
	allowed5xx  int
	restores    int
	bigResults  int
	byPath      map[string]*[4]int // 2xx, 4xx, 5xx, other
	failures    map[string]*fuzzFailure
	failOrder   []string
	droppedFail int
	fives       map[string]*fuzzFailure
	fiveOrder   []string
	slowest     []fuzzSlow
}

func newFuzzRun(t *testing.T, e *engineEnv, seed int64, n int) *fuzzRun {
	f := &fuzzRun{
		t: t, e: e, seed: seed, n: n,
		rng:      rand.New(rand.NewSource(seed)),
		trace:    os.Getenv("FUZZ_TRACE") == "1",
		sent:     map[string]int{},
		byPath:   map[string]*[4]int{},
		failures: map[string]*fuzzFailure{},
		fives:    map[string]*fuzzFailure{},
	}
	f.validSubjects = []string{e.gen.userSubject, "robot:fuzz-ci", "robot:fuzz.bot-1"}
	f.routes = fuzzRoutes
	f.targets = append([]weighted[string](nil), fuzzTargets...)
	f.outFrom = n * 45 / 100
	f.outTo = f.outFrom + int(math.Max(1, float64(n)*fuzzOutageShare))
	if f.outTo > n {
		f.outTo = n
	}
	// The environment's context lasts two minutes; a long run needs longer.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute+time.Duration(n)*50*time.Millisecond)
	t.Cleanup(cancel)
	e.ctx = ctx
	return f
}

func (f *fuzzRun) run() {
	t, e := f.t, f.e
	start := time.Now()

	// A working configuration, the repos dynamic robots are bound on, and three valid roles before fuzzing.
	e.configure(nil)
	f.adminToken = e.pachd.RootToken
	for _, repo := range []string{"images", "edges"} {
		if _, err := e.pachd.CreateRepo(context.Background(), "", repo, ""); err != nil {
			t.Fatalf("POST /repos %s: %v", repo, err)
		}
	}
	routes, added := f.openAPIRoutes()
	f.routes = routes
	for _, r := range routes {
		if routeIn(fuzzRoutes, r.tmpl) == nil {
			f.targets = append(f.targets, weighted[string]{8, r.tmpl})
		}
	}
	t.Logf("the engine's OpenAPI document adds to the hand-kept routes: %v", added)
	for _, q := range []*fuzzReq{f.validRoleRobot(), f.validRoleTemplate(), f.validRoleDynamic(), f.validStaticRole()} {
		q.kind = "setup"
		if r := f.send(q); r.Status >= 300 {
			t.Fatalf("setup %s %s: HTTP %d %s", q.op, q.path, r.Status, errorText(r))
		}
	}
	pid := e.m.PID()
	if pid <= 0 || !harness.ProcessAlive(pid) {
		t.Fatalf("plugin process (pid %d) not running before fuzzing", pid)
	}
	t.Logf("plugin pid %d; pachd down during generated requests #%d..#%d", pid, f.outFrom+1, f.outTo)

	var last *fuzzReq
	dead := false
	for i := 0; i < f.n && !dead && !f.wedged; i++ {
		if i == f.outFrom {
			if err := e.pachd.Unavailable(e.ctx); err != nil {
				t.Errorf("taking the pachd stand-in down: %v", err)
			} else {
				f.outage = true
			}
		}
		if i == f.outTo && f.outage {
			f.endOutage()
		}
		if e.ctx.Err() != nil {
			t.Errorf("out of time after %d generated requests", i)
			break
		}
		if i%100 == 0 && !harness.ProcessAlive(pid) {
			f.processGone(pid, i, last)
			dead = true
			break
		}
		for _, q := range f.generate() {
			if f.wedged {
				break
			}
			last = q
			r := f.send(q)
			if r.Status >= 500 && !harness.ProcessAlive(pid) {
				dead = true
			}
			if dead {
				f.processGone(pid, i, last)
				break
			}
		}
	}
	if f.outage {
		f.endOutage()
	}
	fuzzDur := time.Since(start)

	// The process is the one that started, and alive.
	if got := e.m.PID(); got != pid {
		t.Errorf("plugin process changed: pid %d at the start, %d at the end", pid, got)
	}
	if !dead && !harness.ProcessAlive(pid) {
		f.processGone(pid, f.n, last)
		dead = true
	}
	if !dead && !f.wedged {
		f.finalChecks()
	}
	f.report(fuzzDur)
}

func (f *fuzzRun) endOutage() {
	if err := f.e.pachd.Available(f.e.ctx); err != nil {
		f.t.Errorf("bringing the pachd stand-in back: %v", err)
	}
	f.outage = false
	if f.pendingRestore {
		f.restoreConfig("after the outage")
	}
}

func (f *fuzzRun) processGone(pid, i int, last *fuzzReq) {
	desc := "none"
	if last != nil {
		desc = f.describe(last)
	}
	f.t.Errorf("the plugin process (pid %d) is gone after generated request #%d; last request: %s", pid, i, desc)
}

// finalChecks: the engine still serves the known-good configuration and issues.
func (f *fuzzRun) finalChecks() {
	t, e := f.t, f.e
	r := f.send(f.finish(&fuzzReq{kind: "valid", op: logical.ReadOperation, path: "config"}))
	if r.Status == 200 {
		if got := r.Data()["admin_token_fingerprint"]; got != fingerprint(f.adminToken) {
			t.Errorf("after fuzzing, config's admin_token_fingerprint is %v, want %s (the known-good admin token)", got, fingerprint(f.adminToken))
		}
		if got := r.Data()["pachd_address"]; got != e.pachd.PachdAddress {
			t.Errorf("after fuzzing, config's pachd_address is %v, want %s", got, e.pachd.PachdAddress)
		}
	}
	f.send(f.finish(&fuzzReq{kind: "valid", op: logical.UpdateOperation, path: "login",
		body: map[string]interface{}{"username": "robot:fuzz-final", "ttl": "5m"}}))
}

// ---- sending and the oracle

func (f *fuzzRun) send(q *fuzzReq) *harness.Result {
	e := f.e
	if q.route == nil && q.tmpl == "" {
		f.finish(q)
	}
	f.prepareStorageSnapshot()
	req := e.m.NewRequest(q.op, q.path, q.body)
	ctx, cancel := context.WithTimeout(e.ctx, fuzzRequestTimeout)
	start := time.Now()
	r := e.m.Do(ctx, req)
	d := time.Since(start)
	// The deadline goes to the plugin with the call, so the plugin's side may
	// report it first.
	hung := e.ctx.Err() == nil && (ctx.Err() != nil ||
		d >= fuzzRequestTimeout*9/10 && r.Err != nil && strings.Contains(r.Err.Error(), "DeadlineExceeded"))
	cancel()

	f.sent[q.kind]++
	if f.outage {
		f.inOutage++
	}
	row := f.byPath[q.tmpl]
	if row == nil {
		row = &[4]int{}
		f.byPath[q.tmpl] = row
	}
	switch {
	case r.Status >= 200 && r.Status < 300:
		row[0]++
	case r.Status >= 400 && r.Status < 500:
		row[1]++
	case r.Status >= 500:
		row[2]++
	default:
		row[3]++
	}
	f.noteSlow(d, q, r)
	if f.trace {
		f.t.Logf("#%d %s %s -> %d %s", f.sent["fuzz"]+f.sent["valid"]+f.sent["restore"]+f.sent["setup"], q.kind, f.describe(q), r.Status, truncateRunes(sanitize(primaryMessage(r)), 160))
	}

	if hung {
		f.hangs++
		f.fail(fmt.Sprintf("no answer within %v (the request hangs)", fuzzRequestTimeout), "", q, r)
		f.checkStorage(q, r)
		f.keep(q, r)
		f.probeAlive()
		return r
	}
	f.check(q, r)
	f.afterEffects(q, r)
	f.keep(q, r)
	return r
}

// probeAlive: after a request hung, does the plugin still answer at all?
func (f *fuzzRun) probeAlive() {
	ctx, cancel := context.WithTimeout(f.e.ctx, 3*time.Second)
	defer cancel()
	r := f.e.m.Do(ctx, f.e.m.NewRequest(logical.ReadOperation, "version/client-only", nil))
	if r.Status != 200 {
		f.wedged = true
		f.t.Errorf("after a hung request the plugin no longer answers version/client-only (HTTP %d %s); stopping", r.Status, errorText(r))
	}
}

func (f *fuzzRun) checkStorage(q *fuzzReq, r *harness.Result) {
	if f.e.m.Guard.Writes.Load() == f.snapWrites {
		return
	}
	before, after := f.snap, f.storageState()
	if r.Status >= 500 && f.outage {
		before, after = withoutStaticRoles(before), withoutStaticRoles(after)
	}
	if diff := diffStorage(before, after); diff != "" {
		f.fail("a refused request changed the stored config or roles", diff, q, r)
	}
}

func (f *fuzzRun) check(q *fuzzReq, r *harness.Result) {
	status := r.Status
	msg := primaryMessage(r)

	// 1. no 5xx
	if status >= 500 {
		allowed := ""
		switch {
		case f.outage && (status == 502 || status == 503):
			allowed = "pachd down (outage window)"
		}
		key := fmt.Sprintf("%d %s", status, normalizeMessage(msg))
		f.noteFive(key, allowed, q, r)
		if allowed != "" {
			f.allowed5xx++
		}
		if allowed == "" {
			f.fail(fmt.Sprintf("HTTP %d: %s", status, normalizeMessage(msg)), "", q, r)
		}
	}

	// 2. requests that must be refused
	if status < 400 && len(q.mustFail) > 0 {
		f.fail("succeeded although it must be refused: "+q.mustFail[0], "", q, r)
	}

	// 3. valid requests succeed (outside the outage, with the good config in place)
	if q.kind != "fuzz" && status >= 300 && !f.outage && !f.pendingRestore {
		f.fail(fmt.Sprintf("a valid request was refused: HTTP %d %s", status, normalizeMessage(msg)), "", q, r)
	}

	// 4. a refused request leaves config and roles alone
	if status >= 400 {
		f.checkStorage(q, r)
	}

	if status < 200 || status >= 300 {
		return
	}
	// 5. a successful issuance carries a lease and a token, for a clean subject
	issuing := (q.tmpl == "login" || q.tmpl == "login/<subject>") && (q.op == logical.UpdateOperation || q.op == logical.CreateOperation) ||
		q.tmpl == "creds/<name>" && q.op == logical.ReadOperation
	if issuing {
		token, _ := r.Data()["user_token"].(string)
		if r.Resp == nil || r.Resp.Secret == nil || r.Resp.Secret.TTL <= 0 || token == "" {
			f.fail("a successful issuance answered without a lease or token", "", q, r)
		}
		if token != "" {
			f.e.mu.Lock()
			f.e.issued = append(f.e.issued, token)
			f.e.mu.Unlock()
			if q.kind == "valid" && len(f.tokens) < 64 {
				f.tokens = append(f.tokens, token)
			}
		}
		if subject, ok := r.Data()["subject"].(string); ok {
			f.checkSubjectChars("issued a token for a subject", subject, q, r)
		}
	}
	// 6. an accepted write stores a well-formed entry
	writing := q.op == logical.UpdateOperation || q.op == logical.CreateOperation
	if q.tmpl == "roles/<name>" && writing {
		role := f.storedJSON("roles/"+q.capture, "an accepted role write", q, r)
		if role != nil {
			f.expectNumbers("an accepted role write stored a role with a non-numeric TTL", role, q, r, "ttl_seconds", "max_ttl_seconds")
			if _, given := q.body["subject"]; given {
				if subject, ok := role["subject"].(string); ok {
					f.checkSubjectChars("stored a role with a subject", subject, q, r)
				}
			}
		}
	}
	f.checkStaticAnswer(q, r)
	if q.tmpl == "config" && writing {
		config := f.storedJSON("config", "an accepted config write", q, r)
		if config != nil {
			f.expectNumbers("an accepted config write stored a config with a non-numeric duration", config, q, r,
				"ttl_seconds", "max_ttl_seconds", "request_timeout_seconds", "rotation_period_seconds", "rotation_window_seconds")
		}
	}
}

// storedJSON reads and decodes a storage entry an accepted write must have left.
func (f *fuzzRun) storedJSON(key, what string, q *fuzzReq, r *harness.Result) map[string]interface{} {
	entry, err := f.e.m.Storage.Get(f.e.ctx, key)
	if err != nil || entry == nil {
		f.fail(what+" left no storage entry", fmt.Sprintf("key %q, err %v", key, err), q, r)
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(entry.Value)))
	dec.UseNumber()
	var out map[string]interface{}
	if err := dec.Decode(&out); err != nil {
		f.fail(what+" stored an entry that is not a JSON object", err.Error(), q, r)
		return nil
	}
	return out
}

// expectNumbers checks the stored durations this request set (a field the
// request left out keeps, or repairs, the stored value).
func (f *fuzzRun) expectNumbers(what string, entry map[string]interface{}, q *fuzzReq, r *harness.Result, keys ...string) {
	for _, k := range keys {
		if _, given := q.body[strings.TrimSuffix(k, "_seconds")]; !given {
			continue
		}
		if _, ok := entry[k].(json.Number); !ok {
			f.fail(what, fmt.Sprintf("stored %s = %v", k, entry[k]), q, r)
		}
	}
}

func (f *fuzzRun) checkSubjectChars(what, subject string, q *fuzzReq, r *harness.Result) {
	if c, ok := firstControl(subject); ok {
		f.fail(what+" containing a control character (the engine refuses control characters in subjects)", fmt.Sprintf("%U", c), q, r)
	}
	if c, ok := firstInvisible(subject); ok {
		f.fail(what+" containing an invisible or bidi-control character", fmt.Sprintf("%U", c), q, r)
	}
}

// afterEffects puts the known-good state back after accepted fuzzed changes.
func (f *fuzzRun) afterEffects(q *fuzzReq, r *harness.Result) {
	if q.kind != "fuzz" || r.Status < 200 || r.Status >= 300 {
		return
	}
	op := r.Req.Operation
	switch {
	case q.tmpl == "config" && (op == logical.CreateOperation || op == logical.UpdateOperation || op == logical.DeleteOperation):
		f.restoreConfig(fmt.Sprintf("after an accepted %s of config", op))
	case q.tmpl == "config/rotate-root" && (op == logical.CreateOperation || op == logical.UpdateOperation):
		f.adoptRotatedToken()
	}
}

// adoptRotatedToken follows an accepted fuzzed rotation: the engine now holds
// an admin token the test cannot know (it picks the value itself), and the old
// one is revoked, so the known-good configuration gets a fresh token of pachd's
// root user, minted through the stand-in's control API, and is written back.
func (f *fuzzRun) adoptRotatedToken() {
	created, err := f.e.pachd.CreateToken(f.e.ctx, "pach:root", 0, nil)
	if err != nil {
		f.t.Errorf("POST /tokens after a rotation: %v", err)
		return
	}
	f.adminToken = created.Token
	f.rotations++
	f.e.addSecret(created.Token, "a root token minted after a fuzzed config/rotate-root (the known-good admin token)")
	f.restoreConfig("after an accepted config/rotate-root")
}

// goodConfig is the known-good configuration. After a fuzzed rotation of
// pach:root, the configuration holds a root token the engine minted, which it
// refuses to drop unless told to: the restore says so.
func (f *fuzzRun) goodConfig(verify bool) map[string]interface{} {
	return map[string]interface{}{
		"discard_root_token":         true,
		"pachd_address":              f.e.pachd.PachdAddress,
		"admin_token":                f.adminToken,
		"ttl":                        "0",
		"max_ttl":                    "0",
		"pachd_tls_ca":               "",
		"request_timeout":            "10s",
		"pachd_max_in_flight":        2,
		"generation":                 "auto",
		"rotation_period":            "0",
		"rotation_schedule":          "",
		"rotation_window":            "0",
		"disable_automated_rotation": false,
		"verify_connection":          verify,
	}
}

// restoreConfig writes the known-good configuration back. While pachd is
// down it can only be stored unverified; it is verified once pachd is back.
func (f *fuzzRun) restoreConfig(why string) {
	f.restores++
	if f.outage {
		r := f.send(f.finish(&fuzzReq{kind: "restore", op: logical.UpdateOperation, path: "config", body: f.goodConfig(false)}))
		if r.Status >= 300 {
			f.t.Errorf("restoring the known-good config (unverified, pachd down) %s failed: HTTP %d %s", why, r.Status, errorText(r))
		}
		f.pendingRestore = true
		return
	}
	f.pendingRestore = false
	r := f.send(f.finish(&fuzzReq{kind: "restore", op: logical.UpdateOperation, path: "config", body: f.goodConfig(true)}))
	if r.Status >= 300 {
		f.t.Errorf("restoring the known-good config %s failed: HTTP %d %s", why, r.Status, errorText(r))
	}
}

// keep records the result for checkNoLeaks; results too big to keep are
// searched for the secrets now.
func (f *fuzzRun) keep(q *fuzzReq, r *harness.Result) {
	e := f.e
	big := q.size > fuzzBigResult || len(errorText(r)) > fuzzBigResult
	e.mu.Lock()
	defer e.mu.Unlock()
	if big {
		f.bigResults++
		for secret, what := range e.secrets {
			if where := resultLeak(r, secret); where != "" {
				f.t.Errorf("leak: %s appears in the %s of %s", what, where, f.describe(q))
			}
		}
		return
	}
	r.Req.Data = nil // not searched; keeps memory down
	e.results = append(e.results, r)
}

// ---- storage snapshots (config and roles/)

func (f *fuzzRun) prepareStorageSnapshot() {
	w := f.e.m.Guard.Writes.Load()
	if f.snapOK && w == f.snapWrites {
		return
	}
	f.snap = f.storageState()
	f.snapWrites = w
	f.snapOK = true
}

func (f *fuzzRun) storageState() map[string][]byte {
	out := map[string][]byte{}
	s := f.e.m.Storage
	if entry, err := s.Get(f.e.ctx, "config"); err != nil {
		f.t.Errorf("storage get config: %v", err)
	} else if entry != nil {
		out["config"] = entry.Value
	}
	var walk func(prefix string)
	walk = func(prefix string) {
		keys, err := s.List(f.e.ctx, prefix)
		if err != nil {
			f.t.Errorf("storage list %s: %v", prefix, err)
			return
		}
		for _, k := range keys {
			if strings.HasSuffix(k, "/") {
				walk(prefix + k)
				continue
			}
			if entry, err := s.Get(f.e.ctx, prefix+k); err == nil && entry != nil {
				out[prefix+k] = entry.Value
			}
		}
	}
	walk("roles/")
	walk("static-role/")
	return out
}

func diffStorage(before, after map[string][]byte) string {
	var parts []string
	for k, v := range before {
		w, ok := after[k]
		switch {
		case !ok:
			parts = append(parts, k+" deleted")
		case string(v) != string(w):
			parts = append(parts, k+" changed")
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			parts = append(parts, k+" created")
		}
	}
	sort.Strings(parts)
	for i, p := range parts {
		parts[i] = truncateRunes(p, 80)
	}
	return strings.Join(parts, ", ")
}

// ---- failures and statistics

func (f *fuzzRun) fail(what, note string, q *fuzzReq, r *harness.Result) {
	ff := f.failures[what]
	if ff == nil {
		if len(f.failures) >= fuzzMaxClasses {
			f.droppedFail++
			return
		}
		ff = &fuzzFailure{what: what, where: map[string]bool{}, exSize: -1}
		f.failures[what] = ff
		f.failOrder = append(f.failOrder, what)
	}
	ff.count++
	ff.where[fmt.Sprintf("%s %s", q.op, q.tmpl)] = true
	size := len(q.path) + q.size
	if ff.exSize < 0 || size < ff.exSize {
		ff.exSize = size
		ff.example = fmt.Sprintf("%s\n        -> HTTP %d %s", f.describe(q), r.Status, truncateRunes(sanitize(primaryMessage(r)), 300))
		if note != "" {
			ff.example += " [" + note + "]"
		}
	}
}

func (f *fuzzRun) noteFive(key, allowed string, q *fuzzReq, r *harness.Result) {
	if allowed != "" {
		key += " [allowed: " + allowed + "]"
	}
	ff := f.fives[key]
	if ff == nil {
		ff = &fuzzFailure{what: key, where: map[string]bool{}, exSize: -1}
		f.fives[key] = ff
		f.fiveOrder = append(f.fiveOrder, key)
	}
	ff.count++
	ff.where[fmt.Sprintf("%s %s", q.op, q.tmpl)] = true
	size := len(q.path) + q.size
	if ff.exSize < 0 || size < ff.exSize {
		ff.exSize = size
		ff.example = fmt.Sprintf("%s\n        -> %s", f.describe(q), truncateRunes(sanitize(primaryMessage(r)), 300))
	}
}

func (f *fuzzRun) noteSlow(d time.Duration, q *fuzzReq, r *harness.Result) {
	if len(f.slowest) == 5 && d <= f.slowest[4].d {
		return
	}
	f.slowest = append(f.slowest, fuzzSlow{d: d, desc: fmt.Sprintf("%s -> %d", f.describe(q), r.Status)})
	sort.Slice(f.slowest, func(i, j int) bool { return f.slowest[i].d > f.slowest[j].d })
	if len(f.slowest) > 5 {
		f.slowest = f.slowest[:5]
	}
}

func (f *fuzzRun) report(d time.Duration) {
	t := f.t
	total := 0
	for _, n := range f.sent {
		total += n
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests in %v (%.0f/s): %d generated, %d valid, %d config restores, %d setup; %d while pachd was down; "+
		"%d 5xx answers during the pachd outage; %d admin-token rotations; %d hung requests; %d results too big to keep (leak-checked at once)\n",
		total, d.Round(time.Millisecond), float64(total)/d.Seconds(), f.sent["fuzz"], f.sent["valid"], f.sent["restore"], f.sent["setup"],
		f.inOutage, f.allowed5xx, f.rotations, f.hangs, f.bigResults)
	var tmpls []string
	for k := range f.byPath {
		tmpls = append(tmpls, k)
	}
	sort.Strings(tmpls)
	fmt.Fprintf(&b, "    %-22s %6s %6s %6s %6s\n", "path", "2xx", "4xx", "5xx", "other")
	for _, k := range tmpls {
		row := f.byPath[k]
		fmt.Fprintf(&b, "    %-22s %6d %6d %6d %6d\n", k, row[0], row[1], row[2], row[3])
	}
	if len(f.fiveOrder) > 0 {
		// the ones that are failures first
		sort.SliceStable(f.fiveOrder, func(i, j int) bool {
			return !strings.Contains(f.fiveOrder[i], "[allowed: ") && strings.Contains(f.fiveOrder[j], "[allowed: ")
		})
		fmt.Fprintf(&b, "distinct 5xx answers (%d):\n", len(f.fiveOrder))
		for i, k := range f.fiveOrder {
			if i == 20 {
				fmt.Fprintf(&b, "    … %d more\n", len(f.fiveOrder)-20)
				break
			}
			ff := f.fives[k]
			fmt.Fprintf(&b, "  - %d× %s\n      on %s\n      e.g. %s\n", ff.count, truncateRunes(k, 240), strings.Join(sortedKeys(ff.where), ", "), ff.example)
		}
	}
	b.WriteString("slowest requests:\n")
	for _, s := range f.slowest {
		fmt.Fprintf(&b, "    %v  %s\n", s.d.Round(time.Millisecond), truncateRunes(s.desc, 200))
	}
	fmt.Fprintf(&b, "host log: %d bytes; results kept for the leak check: %d", f.e.cat.Log.Len(), len(f.e.results))
	t.Log(b.String())

	for _, k := range f.failOrder {
		ff := f.failures[k]
		t.Errorf("FUZZ FAILURE (%d×) %s\n      on %s\n      minimal example: %s", ff.count, ff.what, strings.Join(sortedKeys(ff.where), ", "), ff.example)
	}
	if f.droppedFail > 0 {
		t.Errorf("%d more failures in classes beyond the first %d", f.droppedFail, fuzzMaxClasses)
	}
}

// primaryMessage is the error text a Vault client would see first.
func primaryMessage(r *harness.Result) string {
	if r.Resp != nil {
		if msg, ok := r.Resp.Data["error"].(string); ok && msg != "" {
			return msg
		}
	}
	if r.Err != nil {
		return r.Err.Error()
	}
	if r.StatusErr != nil {
		return r.StatusErr.Error()
	}
	return ""
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var (
	reQuoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	reDigits = regexp.MustCompile(`[0-9]+`)
	reSpaces = regexp.MustCompile(`\s+`)
	// where pachd was looked for: one class whatever the address
	reWhere = regexp.MustCompile(`(pachd at |target |connect [A-Z]+ |dns:)\S+`)
)

// normalizeMessage makes error texts of one kind compare equal: quoted
// values and numbers are blanked, the length is bounded.
func normalizeMessage(s string) string {
	s = reWhere.ReplaceAllString(s, "${1}…")
	s = reQuoted.ReplaceAllString(s, `"…"`)
	s = reDigits.ReplaceAllString(s, "N")
	s = reSpaces.ReplaceAllString(s, " ")
	return truncateRunes(sanitize(s), 160)
}

// sanitize escapes what is not printable ASCII.
func sanitize(s string) string {
	q := strconv.QuoteToASCII(s)
	return q[1 : len(q)-1]
}

func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := 0
	for i := range s {
		if i > n {
			break
		}
		cut = i
	}
	return s[:cut] + fmt.Sprintf("…(%d bytes)", len(s))
}

// describe renders a request compactly: long strings shortened, deep
// values summarised.
func (f *fuzzRun) describe(q *fuzzReq) string {
	return fmt.Sprintf("%s %s body=%s", q.op, renderString(q.path, 60), renderValue(q.body, 0))
}

func renderString(s string, limit int) string {
	if len(s) <= limit {
		return strconv.QuoteToASCII(s)
	}
	// head: first ~limit/2 bytes on a rune boundary; tail: last ~10 bytes
	hcut, tcut := 0, len(s)
	for i := range s {
		if i > limit/2 {
			break
		}
		hcut = i
	}
	for i := range s {
		if i >= len(s)-10 {
			tcut = i
			break
		}
	}
	head, tail := s[:hcut], s[tcut:]
	q1, q2 := strconv.QuoteToASCII(head), strconv.QuoteToASCII(tail)
	return fmt.Sprintf("%s…(%d bytes in all)…%s", q1[:len(q1)-1], len(s), q2[1:])
}

func renderValue(v interface{}, depth int) string {
	if depth > 3 {
		if d := nestingDepth(v); d > 1 {
			return fmt.Sprintf("…(%d levels deep)", d)
		}
	}
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return renderString(x, 60)
	case json.Number:
		s := string(x)
		if len(s) > 40 {
			return fmt.Sprintf("%s…(%d chars)…%s", s[:16], len(s), s[len(s)-6:])
		}
		return s
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []interface{}:
		var parts []string
		for i, item := range x {
			if i == 4 {
				parts = append(parts, fmt.Sprintf("…(%d items)", len(x)))
				break
			}
			parts = append(parts, renderValue(item, depth+1))
		}
		return "[" + strings.Join(parts, ",") + "]"
	case map[string]interface{}:
		var keys []string
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for i, k := range keys {
			if i == 8 {
				parts = append(parts, fmt.Sprintf("…(%d keys)", len(keys)))
				break
			}
			parts = append(parts, renderString(k, 40)+":"+renderValue(x[k], depth+1))
		}
		return "{" + strings.Join(parts, ",") + "}"
	default:
		return fmt.Sprintf("%v", x)
	}
}

func nestingDepth(v interface{}) int {
	switch x := v.(type) {
	case []interface{}:
		d := 0
		for _, item := range x {
			if n := nestingDepth(item); n > d {
				d = n
			}
		}
		return d + 1
	case map[string]interface{}:
		d := 0
		for _, item := range x {
			if n := nestingDepth(item); n > d {
				d = n
			}
		}
		return d + 1
	default:
		return 0
	}
}

func approxSize(v interface{}) int {
	switch x := v.(type) {
	case string:
		return len(x) + 2
	case json.Number:
		return len(x)
	case []interface{}:
		n := 2
		for _, item := range x {
			n += approxSize(item) + 1
		}
		return n
	case map[string]interface{}:
		n := 2
		for k, item := range x {
			n += len(k) + 4 + approxSize(item)
		}
		return n
	default:
		return 5
	}
}

// ---- what must be refused

// jsSpace is JavaScript's String.prototype.trim set.
func jsSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

func jsTrim(s string) string { return strings.TrimFunc(s, jsSpace) }

// jsString is String(v) for the scalars a string field takes; ok=false for
// null, arrays and objects.
func jsString(v interface{}) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number, float64:
		return "number", true // never blank; exact text not needed
	}
	return "", false
}

func blankValue(v interface{}) bool {
	s, ok := v.(string)
	return ok && jsTrim(s) == ""
}

var (
	reNegInt      = regexp.MustCompile(`^-[0-9]*[1-9][0-9]*$`)
	reNegDuration = regexp.MustCompile(`^-(?:[0-9]*[1-9][0-9]*(?:ns|us|µs|μs|ms|s|m|h|d))+$`)
)

// negativeDuration: a value the engine reads as a negative (or no) duration.
func negativeDuration(v interface{}) bool {
	switch x := v.(type) {
	case json.Number:
		return reNegInt.MatchString(string(x))
	case float64:
		return x <= -1
	case string:
		s := jsTrim(x)
		return reNegInt.MatchString(s) || reNegDuration.MatchString(s)
	}
	return false
}

// notBool: a value the engine cannot read as a boolean.
func notBool(v interface{}) bool {
	switch x := v.(type) {
	case string:
		switch strings.ToLower(jsTrim(x)) {
		case "true", "1", "t", "false", "0", "f":
			return false
		}
		return true
	case json.Number:
		fl, err := strconv.ParseFloat(string(x), 64)
		return err == nil && fl != 0 && fl != 1
	case float64:
		return x != 0 && x != 1
	}
	return false
}

// notGeneration: a value that is not "auto", "1" or "2" once made a string.
func notGeneration(v interface{}) bool {
	switch x := v.(type) {
	case string:
		return x != "auto" && x != "1" && x != "2"
	case bool:
		return true
	case json.Number:
		fl, err := strconv.ParseFloat(string(x), 64)
		return err == nil && fl != 1 && fl != 2
	case float64:
		return x != 1 && x != 2
	}
	return false
}

// emptyPlaceholderSegment: the template has a {{...}} whose dotted
// expression has an empty segment (identity.entity.aliases..name). Mirrors
// the engine's scan of the template.
func emptyPlaceholderSegment(template string) bool {
	rest := jsTrim(template)
	for rest != "" {
		open := strings.Index(rest, "{{")
		if open < 0 {
			return false
		}
		closeAt := strings.Index(rest[open:], "}}")
		if closeAt < 0 {
			return false // unclosed: refused anyway
		}
		closeAt += open
		expr := jsTrim(rest[open+2 : closeAt])
		for _, part := range strings.Split(expr, ".") {
			if part == "" {
				return true
			}
		}
		rest = rest[closeAt+2:]
	}
	return false
}

func mustFailReasons(q *fuzzReq) []string {
	var out []string
	if q.route == nil {
		if q.path == "" && q.op == logical.HelpOperation {
			return nil // the backend's own help
		}
		return []string{"unknown path"}
	}
	if q.op == logical.HelpOperation {
		return nil
	}
	if !q.route.ops[q.op] {
		return []string{"operation not supported on the path"}
	}
	if q.op != logical.CreateOperation && q.op != logical.UpdateOperation {
		return nil
	}
	if _, given := q.body[q.route.pathField]; given && q.route.pathField != "" {
		out = append(out, "path field "+q.route.pathField+" in the body")
	}
	for k, v := range q.body {
		kind, declared := q.route.fields[k]
		if !declared || k == q.route.capture {
			continue
		}
		switch v := v.(type) {
		case []interface{}:
			// A list field takes a list of strings (numbers read as their text), as Vault's
			// comma-string-slice does; any other field refuses a list.
			if !kind.isList() || !stringOrNumberList(v) {
				out = append(out, "array for field "+k)
			}
			continue
		case map[string]interface{}:
			out = append(out, "object for field "+k)
			continue
		}
		switch {
		case kind.isDuration() && func() bool { _, ok := v.(bool); return ok }():
			out = append(out, "boolean for duration field "+k)
		case kind.isDuration() && negativeDuration(v):
			out = append(out, "negative duration for field "+k)
		case kind.isBool() && notBool(v):
			out = append(out, "non-boolean for field "+k)
		case kind == kGeneration && notGeneration(v):
			out = append(out, "generation not one of auto, 1, 2")
		case kind == kInt && notInt(v):
			out = append(out, "non-integer for field "+k)
		case kind == kCron:
			if why := badCron(v); why != "" {
				out = append(out, "rotation_schedule not a 5-field cron expression: "+why)
			}
		}
	}
	present := func(k string) bool {
		s, ok := jsString(q.body[k])
		return ok && jsTrim(s) != ""
	}
	switch q.tmpl {
	case "revoke":
		if !present("user_token") {
			out = append(out, "revoke without a user_token (absent, null or blank)")
		}
	case "login":
		if !present("username") {
			out = append(out, "login without a subject (username absent, null or blank)")
		}
	case "login/<subject>":
		if jsTrim(q.capture) == "" {
			out = append(out, "login with a blank subject in the path")
		}
	case "config":
		if v, ok := q.body["pachd_address"]; ok && blankValue(v) {
			out = append(out, "blank pachd_address")
		}
		if v, ok := q.body["admin_token"]; ok && blankValue(v) {
			out = append(out, "blank admin_token")
		}
	case "roles/<name>":
		if s, ok := q.body["subject_template"].(string); ok && emptyPlaceholderSegment(s) {
			out = append(out, "subject_template with an empty placeholder segment")
		}
		if present("subject") && present("subject_template") {
			out = append(out, "both subject and subject_template")
		}
	}
	out = append(out, staticMustFail(q)...)
	sort.Strings(out)
	return out
}

// firstControl finds a C0/C1 control character or DEL.
func firstControl(s string) (rune, bool) {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return r, true
		}
	}
	return 0, false
}

// firstInvisible finds a zero-width or bidirectional control character
// (not ZWJ, which emoji sequences use).
func firstInvisible(s string) (rune, bool) {
	for _, r := range s {
		switch {
		case r == 0x200b, r == 0x200c, r == 0x200e, r == 0x200f, r == 0x061c,
			r >= 0x202a && r <= 0x202e, r >= 0x2060 && r <= 0x2064, r >= 0x2066 && r <= 0x2069:
			return r, true
		}
	}
	return 0, false
}

// finish fills in what follows from the request itself.
func (f *fuzzRun) finish(q *fuzzReq) *fuzzReq {
	if q.op == logical.ListOperation && q.path != "" && !strings.HasSuffix(q.path, "/") {
		q.path += "/" // as the harness (and Vault's router) sends a list
	}
	q.route, q.capture = f.classify(q.path)
	if q.route != nil {
		q.tmpl = q.route.tmpl
	} else {
		q.tmpl = "(unknown path)"
	}
	q.size = approxSize(q.body)
	if q.kind == "fuzz" {
		q.mustFail = mustFailReasons(q)
	}
	return q
}

// ---- generation

func (f *fuzzRun) chance(p float64) bool { return f.rng.Float64() < p }

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.Intn(len(xs))] }

type weighted[T any] struct {
	w int
	v T
}

func pickWeighted[T any](rng *rand.Rand, xs []weighted[T]) T {
	total := 0
	for _, x := range xs {
		total += x.w
	}
	n := rng.Intn(total)
	for _, x := range xs {
		if n < x.w {
			return x.v
		}
		n -= x.w
	}
	return xs[len(xs)-1].v
}

func (f *fuzzRun) generate() []*fuzzReq {
	switch x := f.rng.Float64(); {
	case x < fuzzValidShare:
		return f.validRequests()
	case x < fuzzValidShare+fuzzMutationShare:
		return []*fuzzReq{f.mutationRequest()}
	default:
		return []*fuzzReq{f.fuzzRequest()}
	}
}

// mutationRequest takes a valid request and spoils one thing: one field's
// value, one extra key, one missing field or the operation. Such requests
// get past everything else, so the one bad value reaches the code behind.
func (f *fuzzRun) mutationRequest() *fuzzReq {
	addr := f.e.pachd.PachdAddress
	subject := pick(f.rng, f.validSubjects)
	bases := []fuzzBase{
		{logical.UpdateOperation, "config", map[string]interface{}{"ttl": "1h", "max_ttl": "2h"}},
		{logical.UpdateOperation, "config", map[string]interface{}{"request_timeout": "10s", "generation": "auto"}},
		{logical.UpdateOperation, "config", map[string]interface{}{"pachd_address": addr, "verify_connection": true, "pachd_tls_ca": ""}},
		{logical.UpdateOperation, "config", map[string]interface{}{"rotation_schedule": "0 3 * * 1-5", "rotation_window": "1h", "rotation_period": "0"}},
		{logical.UpdateOperation, "config", map[string]interface{}{"rotation_period": "24h", "rotation_schedule": "", "disable_automated_rotation": false}},
		{logical.UpdateOperation, "config", map[string]interface{}{"pachd_max_in_flight": 4, "disable_automated_rotation": true}},
		{logical.UpdateOperation, "config/rotate-root", map[string]interface{}{"ttl": "720h"}},
		{logical.UpdateOperation, "roles/fz-mut", map[string]interface{}{"subject": "robot:fuzz-mut", "ttl": "10m", "max_ttl": "1h"}},
		{logical.CreateOperation, "roles/fz-mut-" + strconv.Itoa(f.rng.Intn(8)), map[string]interface{}{"subject_template": "user:{{identity.entity.name}}", "ttl": "5m"}},
		{logical.UpdateOperation, "login", map[string]interface{}{"username": subject, "ttl": "10m", "max_ttl": "1h"}},
		{logical.UpdateOperation, "login/" + subject, map[string]interface{}{"ttl": "5m", "max_ttl": "1h"}},
		{logical.ReadOperation, "creds/fz-robot", map[string]interface{}{"ttl": "2m"}},
		{logical.UpdateOperation, "revoke", map[string]interface{}{"user_token": randHex(f.rng, 32)}},
	}
	bases = append(bases, f.staticMutationBases()...)
	b := bases[f.rng.Intn(len(bases))]
	q := &fuzzReq{kind: "fuzz", op: b.op, path: b.path, body: b.body}
	route, _ := f.classify(q.path)
	var names []string
	for k := range route.fields {
		if k != route.capture {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	switch x := f.rng.Intn(20); {
	case x < 14 && len(names) > 0:
		name := pick(f.rng, names)
		if f.chance(0.6) {
			q.body[name] = f.trickyValue(route.fields[name])
		} else {
			q.body[name] = f.anyValue()
		}
	case x < 16:
		if f.chance(0.5) {
			q.body[pick(f.rng, fuzzProtoKeys)] = f.anyValue()
		} else {
			q.body[f.weirdKey(names)] = f.anyValue()
		}
	case x < 18:
		keys := make([]string, 0, len(q.body))
		for k := range q.body {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		delete(q.body, pick(f.rng, keys))
	default:
		q.op = pickWeighted(f.rng, fuzzOps)
	}
	return f.finish(q)
}

var fuzzTargets = append([]weighted[string]{
	{12, "config"}, {4, "config/rotate-root"}, {4, "roles/"}, {18, "roles/<name>"}, {9, "creds/<name>"},
	{12, "login"}, {9, "login/<subject>"}, {9, "revoke"}, {4, "version"}, {3, "version/client-only"}, {10, "(unknown path)"},
}, fuzzStaticTargets...)

var fuzzOps = []weighted[logical.Operation]{
	{40, logical.UpdateOperation}, {12, logical.CreateOperation}, {13, logical.ReadOperation}, {8, logical.DeleteOperation},
	{8, logical.ListOperation}, {7, logical.PatchOperation}, {8, logical.HelpOperation},
}

func (f *fuzzRun) fuzzRequest() *fuzzReq {
	target := pickWeighted(f.rng, f.targets)
	var path string
	switch target {
	case "roles/":
		path = pick(f.rng, []string{"roles/", "roles"})
	case "roles/<name>":
		path = "roles/" + f.nameSegment()
	case "creds/<name>":
		if f.chance(0.45) {
			path = "creds/" + pick(f.rng, []string{"fz-robot", "fz-user"})
		} else {
			path = "creds/" + f.nameSegment()
		}
	case "login/<subject>":
		path = "login/" + f.subjectSegment()
	case "(unknown path)":
		path = f.unknownPath()
	default:
		if p, ok := f.staticPath(target); ok {
			path = p
			break
		}
		path = target
		if r := f.routeByTmpl(target); r != nil && r.capture != "" {
			path = strings.Replace(target, "<"+r.capture+">", f.nameSegment(), 1) // a path the OpenAPI document added
		}
	}
	path = strings.ToValidUTF8(path, "\ufffd") // a request path is a protobuf string
	op := pickWeighted(f.rng, fuzzOps)
	fields := map[string]fieldKind{}
	if r := f.routeByTmpl(target); r != nil {
		fields = r.fields
	} else {
		fields = pick(f.rng, f.routes).fields
	}
	var body map[string]interface{}
	switch op {
	case logical.UpdateOperation, logical.CreateOperation, logical.PatchOperation:
		if !f.chance(0.05) {
			body = f.genBody(fields)
		}
	default:
		if f.chance(0.3) {
			body = f.genBody(fields)
		}
	}
	if op == logical.HelpOperation && body == nil && f.chance(0.5) {
		body = map[string]interface{}{"requestResponsePrefix": "pachyderm"}
	}
	return f.finish(&fuzzReq{kind: "fuzz", op: op, path: path, body: body})
}

var fuzzProtoKeys = []string{
	"constructor", "toString", "__proto__", "hasOwnProperty", "valueOf", "isPrototypeOf",
	"propertyIsEnumerable", "toLocaleString", "__defineGetter__", "__lookupGetter__", "prototype",
}

func (f *fuzzRun) genBody(fields map[string]fieldKind) map[string]interface{} {
	body := map[string]interface{}{}
	if f.chance(0.03) {
		return body
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names) // deterministic for a seed
	k := pickWeighted(f.rng, []weighted[int]{{35, 1}, {30, 2}, {20, 3}, {10, 4}, {5, 6}})
	for j := 0; j < k; j++ {
		x := f.rng.Float64()
		switch {
		case x < 0.74 && len(names) > 0:
			name := pick(f.rng, names)
			body[name] = f.valueFor(fields[name])
		case x < 0.88:
			body[f.unknownKey()] = f.anyValue()
		case x < 0.905:
			body[pick(f.rng, fuzzProtoKeys)] = f.anyValue()
		default:
			body[f.weirdKey(names)] = f.anyValue()
		}
	}
	if f.chance(0.01) {
		for j := 0; j < 50+f.rng.Intn(400); j++ {
			body[fmt.Sprintf("k%d_%s", j, f.shortJunk())] = f.smallValue()
		}
	}
	return body
}

func (f *fuzzRun) unknownKey() string {
	return pick(f.rng, []string{"foo", "data", "token", "role", "name", "policy", "ttl_seconds", "lease", "password",
		"adminToken", "userToken", "TTL", "Subject", "extra", "x", "options", "metadata", "entity_id", "client-version"})
}

func (f *fuzzRun) weirdKey(declared []string) string {
	base := "ttl"
	if len(declared) > 0 {
		base = pick(f.rng, declared)
	}
	return pick(f.rng, []string{
		"", " ", base + " ", " " + base, strings.ToUpper(base), base + "\u200b", base + "\x00", "\u202e" + base,
		base + ".x", "a.b", "a/b", "{{", "..", "%00", "\U0001F600", "e\u0301", strings.Repeat("k", 1000),
		"\xff\xfe", base + "\n",
	})
}

func (f *fuzzRun) shortJunk() string {
	return pick(f.rng, []string{"a", "b", "\u200b", "é", "0", "__", "-", "\U0001F600"})
}

// valueFor gives a value for a declared field: often valid (so requests
// reach past field parsing), often kind-specific trouble, else anything.
func (f *fuzzRun) valueFor(kind fieldKind) interface{} {
	x := f.rng.Float64()
	switch {
	case x < 0.42:
		return f.validValue(kind)
	case x < 0.65:
		return f.trickyValue(kind)
	default:
		return f.anyValue()
	}
}

func (f *fuzzRun) validValue(kind fieldKind) interface{} {
	switch kind {
	case kAddress:
		addr := f.e.pachd.PachdAddress
		return pick(f.rng, []interface{}{addr, addr, strings.TrimPrefix(addr, "grpc://"), "http://" + strings.TrimPrefix(addr, "grpc://"),
			"  " + addr + "  ", "127.0.0.1:1", "grpc://127.0.0.1:1", "unix:///nonexistent/pachd.sock"})
	case kToken:
		// The same draws whatever was issued, so a seed gives the same requests.
		useIssued, idx := f.chance(0.4), f.rng.Intn(1<<30)
		if useIssued && len(f.tokens) > 0 {
			return f.tokens[idx%len(f.tokens)]
		}
		return pick(f.rng, []interface{}{"0123456789abcdef0123456789abcdef", randHex(f.rng, 32), randHex(f.rng, 64), "not-a-token"})
	case kPEM:
		return pick(f.rng, []interface{}{"", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"})
	case kDuration:
		return pick(f.rng, []interface{}{"1h", "30m", "10m", "5m", "90s", "0", "3600", json.Number("600"), json.Number("0"), "1h30m", "1d", "2h", "15s", "720h"})
	case kGeneration:
		return pick(f.rng, []interface{}{"auto", "1", "2", json.Number("2")})
	case kBool:
		return pick(f.rng, []interface{}{true, false, "true", "false", "1", "0", "t", "F"})
	case kSubject:
		return pick(f.rng, append([]interface{}{"robot:ci", "robot:fuzz-" + strconv.Itoa(f.rng.Intn(50))}, toIfaces(f.validSubjects)...))
	case kTemplate:
		return pick(f.rng, []interface{}{"user:{{identity.entity.name}}", "robot:{{identity.entity.metadata.team}}",
			"user:{{identity.entity.aliases.auth_oidc_1a2b.name}}", "user:{{identity.entity.id}}@example.com", ""})
	case kName:
		return pick(f.rng, []interface{}{"ci", "fz-robot", "other"})
	case kBindings:
		return pick(f.rng, []interface{}{"repo:images=repoReader", "repo:images=repoReader,repo:edges=repoWriter",
			[]interface{}{"repo:edges=repoWriter"}, "repo:images=repoOwner", ""})
	case kInt, kCron, kList:
		return f.rotationValidValue(kind)
	case kRobotTemplate:
		return pick(f.rng, []interface{}{"", "fz-{{random 8}}", "vault-{{.RoleName | truncate 8}}-{{unix_time}}-{{random 10}}",
			"{{.DisplayName | lowercase}}-{{random 12}}"})
	default:
		return pick(f.rng, []interface{}{"a", "value"})
	}
}

func (f *fuzzRun) trickyValue(kind fieldKind) interface{} {
	switch kind {
	case kAddress:
		return pick(f.rng, []interface{}{"grpcs://127.0.0.1:1", "unix://relative.sock", "unix://", "http://[::1", "grpc://u:p@127.0.0.1:1",
			"127.0.0.1:99999", "127.0.0.1:", "127.0.0.1:-1", "ftp://127.0.0.1:1", "grpc://127.0.0.1:1/path", "grpc://127.0.0.1:1?q=1",
			"grpc://127.0.0.1:1#f", "localhost:0", "grpc://", "://", ":1", "grpc://[::1]:1", "GRPC://127.0.0.1:1",
			"grpc://127.0.0.1:1\u200b", "grpc://\u202e127.0.0.1:1", "grpc://127.0.0.1:1\x00", "grpc://127.0.0.1:" + strings.Repeat("9", 320),
			"grpcs://127.0.0.1:" + strconv.Itoa(portOf(f.e.pachd.PachdAddress)), "unix:///" + strings.Repeat("a", 300)})
	case kToken:
		return pick(f.rng, []interface{}{"", " ", "\t\n", "a\nb", "tok\x00en", "tök\u200ben", "Bearer abc", "\U0001F600", strings.Repeat("t", 5000),
			"\r\n\r\n", "a:b", "\u202eabc", "\x7f"})
	case kPEM:
		return pick(f.rng, []interface{}{"-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----",
			"not a pem", "-----BEGIN CERTIFICATE-----\n\x00\xff\n-----END CERTIFICATE-----", " \n ",
			"-----BEGIN CERTIFICATE-----\n" + strings.Repeat("QUFB", 4000) + "\n-----END CERTIFICATE-----"})
	case kDuration:
		if f.chance(0.4) {
			return f.longDigits()
		}
		return pick(f.rng, []interface{}{"-5m", "-1", json.Number("-1"), json.Number("-3600"), "0.5", ".5s", "5.s", "1h-5m", "1y", "1w", "5 m", " 5m ",
			"5M", "5µs", "5μs", "1ns", "999999999ns", "NaN", "Infinity", "+Inf", "0x10", "1_000", "١٢", "５", "00000", "+0", "-0", "+5m",
			"1e3", "1e400", "1.5h", "0.0000000001", json.Number("1e308"), json.Number("1e309"), json.Number("0.5"), json.Number("-0"),
			json.Number("9223372036854775807"), json.Number("18446744073709551616"), "9223372036854775807", "9223372036854775808ns",
			"2562047h47m16.854775807s", "2562048h", "106751d", "1h1h1h", "h", "m5", "5", "5ms5us5ns", true, false})
	case kGeneration:
		return pick(f.rng, []interface{}{"3", "0", "AUTO", " 2", "2 ", "", "auto\x00", json.Number("1"), json.Number("3"), json.Number("2.0"),
			json.Number("1e0"), true, "２", "1.0", "v2"})
	case kBool:
		return pick(f.rng, []interface{}{"yes", "no", "2", "TRUE", "T", " true ", "", "on", json.Number("2"), json.Number("1"),
			json.Number("0.0"), json.Number("-1"), "truee", "\u200btrue", "ｔｒｕｅ", "1.0"})
	case kSubject:
		return pick(f.rng, []interface{}{"pach:root", "PACH:root", "robot:a:b", "group:x", "pipeline:p", "internal:x", "user:", "robot:", ":x",
			"robot", "okta:alice", "github:alice", "robot:ci\u200b", "robot:c\u202ei", "robot:ci\u0085", "robot:ci\x00", "user:alice\u00a0",
			"user:alice@example.com\u2066", "robot:ci\u0009x", "robot:ci\x7f", "robot:ci\u0090", "user:e\u0301\u0301", "user:\U0001F600",
			"robot:" + strings.Repeat("a", 4096), "ROBOT:ci", " robot:ci ", "robot:ci/extra", "user:{{identity.entity.name}}",
			"robot:__proto__", "constructor:x", "__proto__:x", "robot:\u200b", "user:alice\u2028", "robot:\ufeffci", "a b:c", "robot:%00"})
	case kTemplate:
		return pick(f.rng, []interface{}{
			"user:{{identity.entity.aliases..name}}", "user:{{identity.entity.aliases.acc.metadata.}}", "user:{{identity.entity.aliases..metadata.k}}",
			"user:{{identity.entity.aliases..metadata.}}", "user:{{identity.entity.metadata.}}", "user:{{", "user:}}", "user:{{}}", "user:{{.}}",
			"{{identity.entity.id}}", "pach:{{identity.entity.id}}", "group:{{identity.entity.id}}", "user:{{identity.entity.metadata.__proto__}}",
			"user:{{identity.entity.metadata.constructor}}", "user:{{ identity.entity.name }}", "user:{{identity.entity.name}}{{identity.entity.id}}",
			"user:{{{{}}}}", "user:{{identity..entity.name}}", "robot:{{identity.entity.name}}\u202e", "user:\u0001{{identity.entity.name}}",
			"user:{{identity.entity.name}}\x00", "user:{{identity.entity.aliases.a.b.c.d}}", "user:{{identity.entity}}", "user:{{IDENTITY.ENTITY.NAME}}",
			"user:" + strings.Repeat("{{identity.entity.name}}", 500), "user:{{identity.entity.name}", "robot:{{identity.entity.aliases.x.name}}:y",
			"user:{{identity.entity.aliases.\u200b.name}}", "user:{{identity.entity.metadata.a.b}}",
		})
	case kName:
		return f.nameSegment()
	case kBindings:
		return pick(f.rng, []interface{}{
			"repo:nosuchrepo=repoReader", "repo:images=noSuchRole", "repo:images=clusterAdmin", "cluster=clusterAdmin", "cluster=robotUser",
			"repo:images=projectViewer", "project:nosuch=projectViewer", "repo:../etc=repoReader", "repo:images\u200b=repoReader",
			"repo:images=repoReader\u202e", "repo:images=constructor", "repo:__proto__=repoReader", "project:__proto__=projectOwner",
			"repo:a/b/c=repoReader", "repo:=repoReader", "=repoReader", "repo:images", "repo:images=", ",,,", " , ",
			strings.Repeat("repo:images=repoReader,", 200), "repo:" + strings.Repeat("i", 5000) + "=repoReader",
			"repo:images=repoReader\x00", "cluster:x=secretAdmin", "repo:images=repoReader;repo:edges=repoWriter",
			[]interface{}{1, 2}, []interface{}{"repo:images=repoReader", nil}, []interface{}{[]interface{}{"repo:images=repoReader"}},
			map[string]interface{}{"repo:images": "repoReader"}, "repo:images=repoReader,subject=robot:x",
		})
	case kInt, kCron, kList:
		return f.rotationTrickyValue(kind)
	case kRobotTemplate:
		return pick(f.rng, []interface{}{
			"fz", "{{random 7}}", "{{random 8 | truncate 3}}", "{{random 99999999999999999999}}", "{{random -8}}", "{{random 8}}:x",
			"x:{{random 8}}", "{{ random 8 }}{{", "{{{{random 8}}}}", "{{.RoleName | truncate 0}}{{random 8}}", "{{.Secret}}{{random 8}}",
			"{{random 8 | sha256}}", "\u202e{{random 8}}", "{{random 8}}\u200b", "{{random 8}} x", "{{random 8}}" + strings.Repeat("x", 300),
			strings.Repeat("{{random 64}}", 10), "{{.RoleName}}" + strings.Repeat("-{{random 8}}", 30), "{{random 8}}\x00",
			"{{printf \"%s\" .RoleName}}{{random 8}}", "{{template \"x\"}}{{random 8}}", "{{random 0x10}}",
		})
	default:
		return f.anyValue()
	}
}

func toIfaces(xs []string) []interface{} {
	out := make([]interface{}, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func portOf(addr string) int {
	i := strings.LastIndexByte(addr, ':')
	p, _ := strconv.Atoi(addr[i+1:])
	return p
}

func randHex(rng *rand.Rand, n int) string {
	const hexdigits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = hexdigits[rng.Intn(16)]
	}
	return string(b)
}

func randDigits(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.Intn(10))
	}
	if n > 0 && b[0] == '0' {
		b[0] = '9'
	}
	return string(b)
}

var fuzzUnits = []string{"h", "s", "m", "ms", "ns", "us", "µs", "d"}

// longDigits: numbers past what a float64 holds (309+ digits), as strings
// (with fractions and units) and as JSON numbers.
func (f *fuzzRun) longDigits() interface{} {
	n := 309 + f.rng.Intn(400)
	d := randDigits(f.rng, n)
	if f.chance(0.3) {
		d = strings.Repeat("9", n)
	}
	switch f.rng.Intn(11) {
	case 0:
		return d
	case 1:
		return json.Number(d)
	case 2:
		return d + "." + randDigits(f.rng, 1+f.rng.Intn(20))
	case 3:
		return json.Number(d + "." + randDigits(f.rng, 5))
	case 4:
		return d + pick(f.rng, fuzzUnits)
	case 5:
		return d + "." + randDigits(f.rng, 3) + pick(f.rng, fuzzUnits)
	case 6:
		return "-" + d + pick(f.rng, append([]string{""}, fuzzUnits...))
	case 7:
		return "0." + strings.Repeat("0", n) + "1" + pick(f.rng, []string{"", "s", "h"})
	case 8:
		return "1h" + d + "s"
	case 9:
		return json.Number("-" + d)
	default:
		return "+" + d
	}
}

var fuzzUnicodePieces = []string{
	"robot:ci", "user:alice@example.com", ":", "a", "\u200b", "\u202e", "\u202d", "\u2066", "\x00", "\x01", "\x1b[31m", "\x7f",
	"\u0085", "\U0001F600", "\U0001F469\u200d\U0001F469\u200d\U0001F467", "e\u0301\u0301\u0301", "Z\u0334\u0321\u031b\u0316a\u0337l\u0336g\u0337o\u0338",
	"\ufeff", "\ufffd", "\u2028", "é", "日本語", "\ufdfa", "\U0010FFFF", "ℌ", "İ", "ß", "\xff\xfe", "\xc3(", "\xed\xa0\x80",
	"{{", "}}", "%00", "..", "/", "\\", "\"", "'", "<script>", "${jndi:x}", "null", "undefined", "NaN",
}

// anyValue: the generic trouble, any JSON type.
func (f *fuzzRun) anyValue() interface{} {
	switch pickWeighted(f.rng, []weighted[int]{
		{4, 0}, {4, 1}, {5, 2}, {8, 3}, {2, 4}, {15, 5}, {8, 6}, {4, 7}, {6, 8}, {4, 9}, {5, 10}, {5, 11}, {3, 12}, {3, 13}, {3, 14}, {2, 15},
	}) {
	case 0:
		return nil
	case 1:
		return f.chance(0.5)
	case 2:
		return json.Number(strconv.Itoa(f.rng.Intn(200000) - 100000))
	case 3:
		return json.Number(pick(f.rng, []string{"0", "-0", "1", "-1", "2", "42", "-42", "3600", "9007199254740993", "9223372036854775807",
			"-9223372036854775808", "18446744073709551616", "1e308", "1.7976931348623157e308", "1e309", "-1e309", "1e-400", "4.9e-324",
			"0.5", "-0.5", "1.5", "1e3", "1E3", "123456789012345678901234567890", "0.000001", "-1e400"}))
	case 4:
		return pick(f.rng, []interface{}{math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 1e21, -1e-7, 0.1})
	case 5:
		return f.unicodeString()
	case 6:
		return f.longDigits()
	case 7:
		return pick(f.rng, []interface{}{"NaN", "Infinity", "-Infinity", "+Inf", "inf", "-inf", "nan", "1e999", "∞", "-0"})
	case 8:
		return pick(f.rng, []interface{}{"", " ", "  ", "\t", "\n", "\r\n", " \t \n ", "\u00a0", "\u3000", "\u2028", "\ufeff", "\u2003", "\u0085"})
	case 9:
		return f.bigString()
	case 10:
		return pick(f.rng, []interface{}{[]interface{}{}, []interface{}{json.Number("1")}, []interface{}{"a", "b"}, []interface{}{nil},
			[]interface{}{[]interface{}{"x"}}, []interface{}{"robot:ci"}, []interface{}{map[string]interface{}{}}})
	case 11:
		return pick(f.rng, []interface{}{map[string]interface{}{}, map[string]interface{}{"a": json.Number("1")},
			map[string]interface{}{"__proto__": map[string]interface{}{"admin": true}}, map[string]interface{}{"constructor": json.Number("1")},
			map[string]interface{}{"toString": "x"}, map[string]interface{}{"ttl": "1h"}})
	case 12:
		return f.deep()
	case 13:
		return pick(f.rng, []interface{}{"__proto__", "constructor", "toString", "[object Object]", "undefined", "null", "hasOwnProperty", "valueOf"})
	case 14:
		return pick(f.rng, []interface{}{"{{", "}}", "{{identity.entity.aliases..name}}", "user:{{identity.entity.aliases..name}}", "..", "%00",
			"../../etc/passwd", "a/../b", "%2e%2e", "${HOME}", "$(id)", "`id`"})
	default:
		return f.smallValue()
	}
}

func (f *fuzzRun) smallValue() interface{} {
	return pick(f.rng, []interface{}{"a", json.Number("1"), true, nil, "", "robot:ci", "1h"})
}

func (f *fuzzRun) unicodeString() string {
	var b strings.Builder
	for j := 1 + f.rng.Intn(5); j > 0; j-- {
		b.WriteString(pick(f.rng, fuzzUnicodePieces))
	}
	return b.String()
}

// bigString: 1 KiB .. 64 KiB, and rarely 1 MiB.
func (f *fuzzRun) bigString() string {
	size := pick(f.rng, []int{1 << 10, 4 << 10, 16 << 10, 64 << 10})
	if f.chance(0.04) {
		size = 1 << 20
	}
	piece := pick(f.rng, []string{"a", "9", "é", "\u200b", "\x00", "robot:", "{{", "\U0001F600", " "})
	s := strings.Repeat(piece, size/len(piece))
	if f.chance(0.5) {
		s = "robot:" + s
	}
	return s
}

// deep: maps and arrays 50+ levels deep.
func (f *fuzzRun) deep() interface{} {
	depth := 50 + f.rng.Intn(250)
	if f.chance(0.1) {
		depth = 600
	}
	var v interface{} = f.smallValue()
	mode := f.rng.Intn(3)
	for i := 0; i < depth; i++ {
		useMap := mode == 0 || (mode == 2 && f.chance(0.5))
		if useMap {
			key := "a"
			if f.chance(0.05) {
				key = pick(f.rng, fuzzProtoKeys)
			}
			v = map[string]interface{}{key: v}
		} else {
			v = []interface{}{v}
		}
	}
	return v
}

// nameSegment: a role name in a path.
func (f *fuzzRun) nameSegment() string {
	x := f.rng.Float64()
	switch {
	case x < 0.3:
		return pick(f.rng, []string{"ci", "fz-robot", "fz-user", "fuzz", "a", "a.b", "a_b-c", "Z9", "r" + strconv.Itoa(f.rng.Intn(30))})
	case x < 0.4:
		return pick(f.rng, append([]string{"prototype", "__defineSetter__"}, fuzzProtoKeys...))
	default:
		return pick(f.rng, []string{
			"", ".", "..", "...", "%00", "%2e%2e", "a%2Fb", "{{", "}}", "user:{{identity.entity.aliases..name}}", "a/b", "a/../b",
			"../config", "a ", " a", "a b", "-a", "a-", ".a", "a.", "_", "a..b", strings.Repeat("a", 256), strings.Repeat("n", 4096),
			"ci\u200b", "ci\x00", "ci\n", "ci/", "ci//", "CI", "\u202eci", "é", "\U0001F600", "ci\u0301", f.unicodeString(),
			"r" + strings.Repeat("0", 10000), "robot:ci", "a\tb", "\u0085",
		})
	}
}

// subjectSegment: a subject in login/<subject>.
func (f *fuzzRun) subjectSegment() string {
	x := f.rng.Float64()
	switch {
	case x < 0.35:
		return pick(f.rng, append([]string{"robot:ci", "robot:fuzz-path"}, f.validSubjects...))
	case x < 0.45:
		return pick(f.rng, fuzzProtoKeys)
	case x < 0.75:
		if s, ok := f.trickyValue(kSubject).(string); ok {
			return s
		}
		return "robot:x"
	default:
		return pick(f.rng, []string{
			"", " ", "/", "..", "../config", "%00", "robot:ci/..", "robot:ci%2F..", "{{", "user:{{identity.entity.aliases..name}}",
			"robot:" + strings.Repeat("a", 70000), f.unicodeString(), "robot:ci\r", "robot:ci\u2028x", "\t", "robot: ci",
		})
	}
}

func (f *fuzzRun) unknownPath() string {
	return pick(f.rng, []string{
		"", "/", "config/", "configs", "Config", "CONFIG", "config/rotate-root/", "config/rotate", "config/rotate-root/x",
		"roles/a/b", "roles//", "role/ci", "creds", "creds/", "creds/a/b", "login/", "loginx", "Login", "revoke/", "revoke/x",
		"version/", "version/client-only/", "version/x", "sys/mounts", "..", "../config", "./config", "%00", "config%00", "config\x00",
		"\u200bconfig", "config\u200b", "constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "roles/__proto__/x",
		"{{", "wal/", "wal/x", "auth/token/lookup-self", strings.Repeat("a", 10000), "creds/" + strings.Repeat("b", 300) + "/",
		"roles/..", "roles/.", "roles/%2e%2e", "creds/..", "roles/a b", "roles/\u200b", "roles/ci\n", "version/client-only\n",
		"login\n", f.unicodeString(),
	})
}

// validRequests: requests that must succeed (outside the outage), so the
// fuzzer gets deep into the engine.
func (f *fuzzRun) validRequests() []*fuzzReq {
	var upd logical.Operation = logical.UpdateOperation
	switch f.rng.Intn(13) {
	case 0, 1:
		return []*fuzzReq{f.finish(&fuzzReq{kind: "valid", op: upd, path: "login",
			body: map[string]interface{}{"username": pick(f.rng, f.validSubjects), "ttl": pick(f.rng, []string{"10m", "1h", "90s"})}})}
	case 2:
		return []*fuzzReq{f.finish(&fuzzReq{kind: "valid", op: upd, path: "login/" + pick(f.rng, f.validSubjects),
			body: map[string]interface{}{"ttl": "5m", "max_ttl": "1h"}})}
	case 3:
		return []*fuzzReq{f.validRoleRobot(), f.finish(&fuzzReq{kind: "valid", op: logical.ListOperation, path: "roles/"})}
	case 4, 5:
		var body map[string]interface{}
		if f.chance(0.5) {
			body = map[string]interface{}{"ttl": "2m"}
		}
		return []*fuzzReq{f.validRoleRobot(), f.finish(&fuzzReq{kind: "valid", op: logical.ReadOperation, path: "creds/fz-robot", body: body})}
	case 6:
		idx := f.rng.Intn(1 << 30)
		if len(f.tokens) > 0 {
			i := idx % len(f.tokens)
			tok := f.tokens[i]
			f.tokens = append(f.tokens[:i], f.tokens[i+1:]...)
			return []*fuzzReq{f.finish(&fuzzReq{kind: "valid", op: upd, path: "revoke", body: map[string]interface{}{"user_token": tok}})}
		}
		return []*fuzzReq{f.finish(&fuzzReq{kind: "valid", op: logical.ReadOperation, path: "config"})}
	case 7:
		return []*fuzzReq{f.finish(&fuzzReq{kind: "valid", op: logical.ReadOperation, path: "config"})}
	case 8:
		return []*fuzzReq{f.finish(&fuzzReq{kind: "valid", op: logical.ReadOperation, path: "version"})}
	case 9:
		if f.chance(0.5) {
			return []*fuzzReq{f.validRoleDynamic(), f.finish(&fuzzReq{kind: "valid", op: logical.ReadOperation, path: "creds/fz-dyn"})}
		}
		return []*fuzzReq{f.validRoleTemplate(), f.finish(&fuzzReq{kind: "valid", op: logical.ReadOperation, path: "roles/fz-user"})}
	case 11, 12:
		return f.validStaticRequests()
	default:
		return []*fuzzReq{f.finish(&fuzzReq{kind: "valid", op: logical.ReadOperation, path: "version/client-only"}),
			f.finish(&fuzzReq{kind: "valid", op: logical.HelpOperation, path: "roles/fz-robot"})}
	}
}

func (f *fuzzRun) validRoleRobot() *fuzzReq {
	return f.finish(&fuzzReq{kind: "valid", op: logical.UpdateOperation, path: "roles/fz-robot",
		body: map[string]interface{}{"subject": "robot:fuzz-role", "ttl": "10m", "max_ttl": "1h"}})
}

func (f *fuzzRun) validRoleDynamic() *fuzzReq {
	return f.finish(&fuzzReq{kind: "valid", op: logical.UpdateOperation, path: "roles/fz-dyn",
		body: map[string]interface{}{"role_bindings": "repo:images=repoReader,repo:edges=repoWriter", "ttl": "5m", "max_ttl": "30m"}})
}

func (f *fuzzRun) validRoleTemplate() *fuzzReq {
	return f.finish(&fuzzReq{kind: "valid", op: logical.UpdateOperation, path: "roles/fz-user",
		body: map[string]interface{}{"subject_template": "user:{{identity.entity.name}}", "ttl": "5m", "max_ttl": "30m"}})
}

func stringOrNumberList(items []interface{}) bool {
	for _, item := range items {
		switch item.(type) {
		case string, json.Number, float64:
		default:
			return false
		}
	}
	return true
}
