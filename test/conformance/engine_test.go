package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"pachyderm-vault-plugin/test/conformance/harness"
	"pachyderm-vault-plugin/test/conformance/standin"
)

// Workflow tests of the product plugin (build/pachyderm) against the pachd
// stand-in (build/pachd-standin.js), for both pachd generations: configure,
// issue (login, creds), use the token at pachd, renew, revoke, faults, and
// that the admin token never leaves the engine.
//
// Each subtest has its own stand-in process, host and mount. Every response,
// error text and host log line of a subtest is searched for the admin
// token(s) at its end.

type pachdGeneration struct {
	name        string
	generation  int
	version     string
	userSubject string // a user subject this generation can mint
}

var pachdGenerations = []pachdGeneration{
	{name: "pachd-1.13.4", generation: 1, version: "1.13.4", userSubject: "okta:alice@example.com"},
	{name: "pachd-2.12.0", generation: 2, version: "2.12.0", userSubject: "user:alice@example.com"},
}

// engineEnv is one stand-in, one host and one mount of build/pachyderm.
type engineEnv struct {
	t     *testing.T
	gen   pachdGeneration
	ctx   context.Context
	cat   *harness.Catalog
	m     *harness.Mount
	pachd *standin.Standin

	mu sync.Mutex
	// secrets must appear in no response, error or host log line.
	secrets map[string]string // value -> description
	results []*harness.Result
	// issued user tokens, which must not appear in the host log either.
	issued []string
}

// forEachGeneration runs fn as a subtest per pachd generation with a fresh
// environment (stand-in, host, mount; not configured yet).
func forEachGeneration(t *testing.T, fn func(t *testing.T, e *engineEnv)) {
	for _, g := range pachdGenerations {
		g := g
		t.Run(g.name, func(t *testing.T) {
			fn(t, newEngineEnv(t, g))
		})
	}
}

func standinScript(t *testing.T) string {
	p := standin.DefaultScript()
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CONFORMANCE_ALLOW_MISSING") == "1" {
			t.Skipf("pachd stand-in %s missing: %v", p, err)
		}
		t.Fatalf("pachd stand-in %s missing (make build): %v", p, err)
	}
	return p
}

func newEngineEnv(t *testing.T, g pachdGeneration) *engineEnv {
	t.Helper()
	tg := targetByName(t, targetPachyderm)
	e := &engineEnv{t: t, gen: g, ctx: testCtx(t), secrets: map[string]string{}}

	// Registered first, so it runs last: after the plugin process is gone
	// and every stderr line it wrote has been re-logged by the host.
	t.Cleanup(e.checkNoLeaks)

	s, err := standin.Start(e.ctx, standin.Options{Script: standinScript(t), Generation: g.generation, PachdVersion: g.version})
	if err != nil {
		t.Fatalf("starting the pachd stand-in: %v", err)
	}
	e.pachd = s
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping the pachd stand-in: %v", err)
		}
		if t.Failed() {
			t.Logf("pachd stand-in stderr:\n%s", tail(s.Stderr(), 6000))
		}
	})
	if s.Generation != g.generation {
		t.Fatalf("stand-in serves generation %d, want %d", s.Generation, g.generation)
	}
	e.addSecret(s.RootToken, "the stand-in's root token (the engine's admin token)")

	e.cat = newCatalog(t, hclog.Trace)
	e.m = mustMount(t, e.cat, tg, harness.MountOptions{})
	return e
}

func (e *engineEnv) addSecret(value, what string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if value != "" {
		e.secrets[value] = what
	}
}

// do sends a request through the harness and records the result for the
// leak check.
func (e *engineEnv) do(req *logical.Request) *harness.Result {
	r := e.m.Do(e.ctx, req)
	e.mu.Lock()
	e.results = append(e.results, r)
	e.mu.Unlock()
	return r
}

func (e *engineEnv) write(path string, data map[string]interface{}) *harness.Result {
	return e.do(e.m.NewRequest(logical.UpdateOperation, path, data))
}

func (e *engineEnv) read(path string) *harness.Result {
	return e.do(e.m.NewRequest(logical.ReadOperation, path, nil))
}

// rollback sends the rollback manager's request; immediate asks the engine to
// roll back WAL entries younger than its grace period too. The manager never
// sees an entry as young as the ones an issuance keeps until half a second
// after its answer, so an immediate rollback first lets those go, as the ten
// minutes of the real grace would.
func (e *engineEnv) rollback(immediate bool) *harness.Result {
	var data map[string]interface{}
	if immediate {
		time.Sleep(issuanceReleaseGrace)
		data = map[string]interface{}{"immediate": true}
	}
	return e.do(e.m.NewRequest(logical.RollbackOperation, "", data))
}

// issuanceReleaseGrace is how long after its answer an issuance's WAL entry
// may still be there (the engine releases it after half a second), with slack.
const issuanceReleaseGrace = 900 * time.Millisecond

// walAfterReleases lists the WAL once the issuances answered so far have
// released their entries.
func (e *engineEnv) walAfterReleases() []string {
	time.Sleep(issuanceReleaseGrace)
	return e.walEntries()
}

// configure writes a working configuration (the stand-in's root token as
// admin token) plus extra fields.
func (e *engineEnv) configure(extra map[string]interface{}) {
	e.t.Helper()
	data := map[string]interface{}{
		"pachd_address": e.pachd.PachdAddress,
		"admin_token":   e.pachd.RootToken,
	}
	for k, v := range extra {
		data[k] = v
	}
	if r := e.write("config", data); !expectOK(e.t, "write config", r) {
		e.t.FailNow()
	}
}

// lease is what Vault's expiration manager keeps for an issued secret.
type lease struct {
	path      string
	data      map[string]interface{}
	secret    logical.Secret
	issueTime time.Time
	token     string
}

// issue sends a request that must return a lease with a pachd token.
func (e *engineEnv) issue(what string, req *logical.Request) *lease {
	e.t.Helper()
	r := e.do(req)
	if !expectOK(e.t, what, r) {
		e.t.FailNow()
	}
	if r.Resp == nil || r.Resp.Secret == nil {
		e.t.Fatalf("%s: no lease in the response (resp=%s)", what, harness.DescribeResponse(r.Resp))
	}
	if !r.Resp.Secret.Renewable {
		e.t.Errorf("%s: lease is not renewable", what)
	}
	if r.Resp.Secret.TTL <= 0 {
		e.t.Errorf("%s: lease TTL %v, want > 0", what, r.Resp.Secret.TTL)
	}
	token, _ := r.Data()["user_token"].(string)
	if token == "" {
		e.t.Fatalf("%s: data.user_token is %#v, want a token", what, r.Data()["user_token"])
	}
	e.mu.Lock()
	e.issued = append(e.issued, token)
	e.mu.Unlock()
	return &lease{path: req.Path, data: r.Resp.Data, secret: *r.Resp.Secret, issueTime: time.Now(), token: token}
}

func (e *engineEnv) login(subject string, ttl, maxTTL string) *lease {
	e.t.Helper()
	data := map[string]interface{}{"username": subject}
	if ttl != "" {
		data["ttl"] = ttl
	}
	if maxTTL != "" {
		data["max_ttl"] = maxTTL
	}
	return e.issue("login "+subject, e.m.NewRequest(logical.UpdateOperation, "login", data))
}

// renew sends what the expiration manager sends for `vault lease renew`:
// the stored secret with the lease's issue time and the increment. On
// success the stored lease is replaced, as Vault does.
func (e *engineEnv) renew(l *lease, increment time.Duration, issueTime time.Time) *harness.Result {
	s := l.secret
	s.IssueTime = issueTime
	s.Increment = increment
	s.LeaseID = ""
	req := e.m.NewRequest(logical.RenewOperation, l.path, l.data)
	req.Secret = &s
	r := e.do(req)
	if r.Err == nil && r.Resp != nil && r.Resp.Secret != nil && !r.Resp.IsError() {
		l.secret = *r.Resp.Secret
		l.data = r.Resp.Data
	}
	return r
}

// revoke sends what the expiration manager sends to revoke a lease.
func (e *engineEnv) revoke(l *lease) *harness.Result {
	s := l.secret
	s.IssueTime = l.issueTime
	s.Increment = 0
	s.LeaseID = "pachyderm/" + l.path + "/conformance-lease"
	req := e.m.NewRequest(logical.RevokeOperation, l.path, l.data)
	req.Secret = &s
	return e.do(req)
}

func (e *engineEnv) whoAmI(token string) (*standin.WhoAmIReply, error) {
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	return e.pachd.WhoAmI(ctx, token)
}

// expectWorks fails unless pachd says token belongs to subject.
func (e *engineEnv) expectWorks(what, token, subject string) {
	e.t.Helper()
	who, err := e.whoAmI(token)
	if err != nil {
		e.t.Errorf("%s: WhoAmI at pachd failed: %v", what, err)
		return
	}
	if who.Username != subject {
		e.t.Errorf("%s: pachd says the token is %q's, want %q", what, who.Username, subject)
	}
}

// expectRejected fails unless pachd refuses the token with code (any code
// when want is codes.OK).
func (e *engineEnv) expectRejected(what, token string, want codes.Code) {
	e.t.Helper()
	who, err := e.whoAmI(token)
	if err == nil {
		e.t.Errorf("%s: pachd still accepts the token (WhoAmI says %q)", what, who.Username)
		return
	}
	if want != codes.OK && status.Code(err) != want {
		e.t.Errorf("%s: WhoAmI failed with %v, want code %v", what, err, want)
	}
}

func (e *engineEnv) tokens() map[string]standin.Token {
	e.t.Helper()
	list, err := e.pachd.Tokens(e.ctx)
	if err != nil {
		e.t.Fatalf("GET /tokens: %v", err)
	}
	out := map[string]standin.Token{}
	for _, tk := range list {
		out[tk.Hash] = tk
	}
	return out
}

// expectOnlyTokens fails unless pachd holds exactly the root token and the
// given tokens.
func (e *engineEnv) expectOnlyTokens(what string, held ...string) {
	e.t.Helper()
	info, err := e.pachd.Info(e.ctx)
	if err != nil {
		e.t.Fatalf("GET /info: %v", err)
	}
	want := map[string]bool{hashToken(info.RootToken): true}
	for _, tk := range held {
		want[hashToken(tk)] = true
	}
	got := e.tokens()
	var extra, missing []string
	for h, tk := range got {
		if !want[h] {
			extra = append(extra, fmt.Sprintf("%s… (%s, ttl %ds, expired %v)", h[:12], tk.Subject, tk.TTLSeconds, tk.Expired))
		}
	}
	for h := range want {
		if _, ok := got[h]; !ok {
			missing = append(missing, h[:12]+"…")
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		e.t.Errorf("%s: pachd holds tokens no lease accounts for: %v", what, extra)
	}
	if len(missing) > 0 {
		e.t.Errorf("%s: pachd lost tokens that should be alive: %v", what, missing)
	}
}

func (e *engineEnv) walEntries() []string {
	e.t.Helper()
	keys, err := e.m.Storage.List(e.ctx, "wal/")
	if err != nil {
		e.t.Fatalf("listing wal/: %v", err)
	}
	return keys
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func fingerprint(token string) string { return "sha256:" + hashToken(token)[:16] }

// errorText is everything a Vault client could see of a failure.
func errorText(r *harness.Result) string {
	var parts []string
	if r.Err != nil {
		parts = append(parts, r.Err.Error())
	}
	if r.StatusErr != nil {
		parts = append(parts, r.StatusErr.Error())
	}
	if r.Resp != nil {
		if msg, ok := r.Resp.Data["error"].(string); ok {
			parts = append(parts, msg)
		}
	}
	return strings.Join(parts, " | ")
}

func expectErrorContains(t *testing.T, what string, r *harness.Result, subs ...string) {
	t.Helper()
	text := errorText(r)
	for _, s := range subs {
		if !strings.Contains(text, s) {
			t.Errorf("%s: error %q does not mention %q", what, text, s)
		}
	}
}

// checkNoLeaks searches every recorded response and error, and the host log,
// for the secrets.
func (e *engineEnv) checkNoLeaks() {
	t := e.t
	if e.cat == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	hostLog := e.cat.Log.String()
	// The search is only worth something if the plugin's lines are there.
	pluginLines := 0
	for _, entry := range harness.ParseLogLines(hostLog) {
		if entry.Module == "pachyderm" || strings.HasPrefix(entry.Module, "pachyderm.") {
			pluginLines++
		}
	}
	if len(e.results) > 0 && pluginLines == 0 {
		t.Errorf("leak check: the host log holds no line the plugin logged (@module pachyderm); capture broken?")
	}
	for secret, what := range e.secrets {
		for i, r := range e.results {
			if where := resultLeak(r, secret); where != "" {
				t.Errorf("leak: %s appears in the %s of request #%d (%s %q)", what, where, i+1, r.Req.Operation, r.Req.Path)
			}
		}
		if strings.Contains(hostLog, secret) {
			for _, line := range strings.Split(hostLog, "\n") {
				if strings.Contains(line, secret) {
					t.Errorf("leak: %s appears in a host log line: %s", what, strings.ReplaceAll(line, secret, "<THE SECRET>"))
				}
			}
		}
	}
	for _, token := range e.issued {
		if strings.Contains(hostLog, token) {
			t.Errorf("leak: an issued pachd token (fingerprint %s) appears in the host log", fingerprint(token))
		}
	}
}

// resultLeak says where in a result secret appears ("" if nowhere).
func resultLeak(r *harness.Result, secret string) string {
	if r.Err != nil && strings.Contains(r.Err.Error(), secret) {
		return "error"
	}
	if r.StatusErr != nil && strings.Contains(r.StatusErr.Error(), secret) {
		return "HTTP error text"
	}
	if r.ExistenceErr != nil && strings.Contains(r.ExistenceErr.Error(), secret) {
		return "existence check error"
	}
	if r.Resp == nil {
		return ""
	}
	if b, _ := json.Marshal(r.Resp.Data); strings.Contains(string(b), secret) {
		return "response data"
	}
	for _, w := range r.Resp.Warnings {
		if strings.Contains(w, secret) {
			return "response warnings"
		}
	}
	if r.Resp.Secret != nil {
		if b, _ := json.Marshal(r.Resp.Secret.InternalData); strings.Contains(string(b), secret) {
			return "lease internal data (stored by Vault)"
		}
	}
	if b, _ := json.Marshal(r.Resp.Headers); strings.Contains(string(b), secret) {
		return "response headers"
	}
	return ""
}

// closedPort returns a local TCP port nothing listens on.
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// ---- 1. config

func TestEngineConfig(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, e *engineEnv) {
		expectNothingStored := func(what string) {
			t.Helper()
			if entry, err := e.m.Storage.Get(e.ctx, "config"); err != nil || entry != nil {
				t.Errorf("%s: storage holds a config entry (err=%v)", what, err)
			}
			if r := e.read("config"); r.Status != 404 {
				t.Errorf("%s: read config answered %d (resp=%s), want 404", what, r.Status, harness.DescribeResponse(r.Resp))
			}
		}

		// unreachable: an address that does not answer is a bad value (400), not an outage
		port := closedPort(t)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		r := e.write("config", map[string]interface{}{"pachd_address": "grpc://" + addr, "admin_token": e.pachd.RootToken})
		expectStatus(t, "config with an unreachable pachd", r, 400)
		expectErrorContains(t, "config with an unreachable pachd", r, addr, "verify_connection=false")
		expectNothingStored("after the unreachable config")

		// not an admin
		plain, err := e.pachd.CreateToken(e.ctx, "robot:not-an-admin", 0, nil)
		if err != nil {
			t.Fatalf("POST /tokens: %v", err)
		}
		r = e.write("config", map[string]interface{}{"pachd_address": e.pachd.PachdAddress, "admin_token": plain.Token})
		expectStatus(t, "config with a non-admin token", r, 400)
		expectErrorContains(t, "config with a non-admin token", r, "robot:not-an-admin")
		expectNothingStored("after the non-admin config")

		// good
		e.configure(nil)
		r = e.read("config")
		if !expectStatus(t, "read config", r, 200) {
			return
		}
		d := r.Data()
		if _, ok := d["admin_token"]; ok {
			t.Errorf("read config returns admin_token")
		}
		if d["admin_subject"] != "pach:root" {
			t.Errorf("admin_subject = %#v, want pach:root", d["admin_subject"])
		}
		if d["admin_token_fingerprint"] != fingerprint(e.pachd.RootToken) {
			t.Errorf("admin_token_fingerprint = %#v, want %s", d["admin_token_fingerprint"], fingerprint(e.pachd.RootToken))
		}
		expectNumber(t, "pachd_generation", d["pachd_generation"], int64(e.gen.generation))
		if d["pachd_version"] != e.gen.version {
			t.Errorf("pachd_version = %#v, want %s", d["pachd_version"], e.gen.version)
		}
		if d["pachd_address"] != e.pachd.PachdAddress {
			t.Errorf("pachd_address = %#v, want %s", d["pachd_address"], e.pachd.PachdAddress)
		}

		// a failed rewrite leaves the stored configuration alone
		r = e.write("config", map[string]interface{}{"pachd_address": "grpc://" + addr})
		expectStatus(t, "rewrite config with an unreachable pachd", r, 400)
		r = e.read("config")
		if expectStatus(t, "read config after the failed rewrite", r, 200) && r.Data()["pachd_address"] != e.pachd.PachdAddress {
			t.Errorf("a refused config write changed pachd_address to %#v", r.Data()["pachd_address"])
		}
		r = e.write("config", map[string]interface{}{"admin_token": plain.Token})
		expectStatus(t, "rewrite config with a non-admin token", r, 400)
		r = e.read("config")
		if expectStatus(t, "read config after the refused token", r, 200) && r.Data()["admin_token_fingerprint"] != fingerprint(e.pachd.RootToken) {
			t.Errorf("a refused config write changed the admin token (fingerprint %#v)", r.Data()["admin_token_fingerprint"])
		}
	})
}

// ---- 2. + 3. login, creds, and the token at pachd

// TestEngineTokenOutlivesItsAnswer: the journal entry that covers an issuance
// is released a little after the answer went out (so a crash in between
// cannot lose a token the host never got); the token itself stays, and the
// entry goes.
func TestEngineTokenOutlivesItsAnswer(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, e *engineEnv) {
		e.configure(nil)
		issued := []*lease{e.login("robot:ci", "30m", ""), e.login(e.gen.userSubject, "30m", "")}
		time.Sleep(2 * issuanceReleaseGrace)
		for _, l := range issued {
			e.expectWorks("an issued token, well after its answer", l.token, l.data["subject"].(string))
		}
		if wal := e.walEntries(); len(wal) != 0 {
			t.Errorf("WAL entries left well after the answers: %v", wal)
		}
	})
}

func TestEngineLoginAndCreds(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, e *engineEnv) {
		e.configure(nil)

		robot := e.login("robot:ci", "30m", "")
		if robot.secret.TTL != 30*time.Minute {
			t.Errorf("login robot:ci ttl=30m: lease TTL %v", robot.secret.TTL)
		}
		if robot.data["subject"] != "robot:ci" {
			t.Errorf("login robot:ci: data.subject = %#v", robot.data["subject"])
		}
		e.expectWorks("login robot:ci", robot.token, "robot:ci")

		user := e.login(e.gen.userSubject, "15m", "1h")
		if user.secret.TTL != 15*time.Minute {
			t.Errorf("login %s ttl=15m: lease TTL %v", e.gen.userSubject, user.secret.TTL)
		}
		e.expectWorks("login "+e.gen.userSubject, user.token, e.gen.userSubject)

		r := e.write("roles/ci", map[string]interface{}{"subject": "robot:ci", "ttl": "20m", "max_ttl": "2h"})
		if !expectOK(t, "write roles/ci", r) {
			return
		}
		creds := e.issue("read creds/ci", e.m.NewRequest(logical.ReadOperation, "creds/ci", nil))
		if creds.secret.TTL != 20*time.Minute || creds.secret.MaxTTL != 2*time.Hour {
			t.Errorf("creds/ci: lease TTL %v max %v, want 20m and 2h (the role's)", creds.secret.TTL, creds.secret.MaxTTL)
		}
		e.expectWorks("creds/ci", creds.token, "robot:ci")

		if robot.token == creds.token {
			t.Errorf("login and creds returned the same token")
		}
		table := e.tokens()
		for _, c := range []struct {
			what, token, subject string
			lifetime             time.Duration
		}{
			{"login robot:ci", robot.token, "robot:ci", 30 * time.Minute},
			{"login " + e.gen.userSubject, user.token, e.gen.userSubject, 15 * time.Minute},
			{"creds/ci", creds.token, "robot:ci", 20 * time.Minute},
		} {
			row, ok := table[hashToken(c.token)]
			if !ok {
				t.Errorf("%s: pachd has no such token", c.what)
				continue
			}
			if row.Subject != c.subject {
				t.Errorf("%s: pachd's row is for %q", c.what, row.Subject)
			}
			if e.gen.generation == 1 {
				// 1.x: the token lives as long as the lease, plus a few seconds.
				if d := time.Duration(row.TTLSeconds) * time.Second; d < c.lifetime || d > c.lifetime+10*time.Second {
					t.Errorf("%s: token lives %v at pachd, want the lease TTL %v (plus a few seconds)", c.what, d, c.lifetime)
				}
			}
		}
		if e.gen.generation == 2 {
			// 2.x: the token is cut at max_ttl up front.
			if row := table[hashToken(user.token)]; row.TTLSeconds > 3600 || row.TTLSeconds < 3590 {
				t.Errorf("login %s max_ttl=1h: token lives %ds at pachd, want 3600", e.gen.userSubject, row.TTLSeconds)
			}
			if row := table[hashToken(creds.token)]; row.TTLSeconds > 7200 || row.TTLSeconds < 7190 {
				t.Errorf("creds/ci (role max_ttl 2h): token lives %ds at pachd, want 7200", row.TTLSeconds)
			}
		}
	})
}

// ---- 4. renew

func TestEngineRenew(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, e *engineEnv) {
		e.configure(nil)
		l := e.login("robot:ci", "60s", "1h")
		before := e.tokens()[hashToken(l.token)]

		r := e.renew(l, 10*time.Minute, l.issueTime)
		if !expectOK(t, "renew +10m", r) {
			return
		}
		if r.Resp == nil || r.Resp.Secret == nil {
			t.Fatalf("renew answered without a secret: %s", harness.DescribeResponse(r.Resp))
		}
		if got := r.Resp.Secret.TTL; got != 10*time.Minute {
			t.Errorf("renew +10m: lease TTL %v, want 10m", got)
		}
		after := e.tokens()[hashToken(l.token)]
		switch e.gen.generation {
		case 1:
			if before.TTLSeconds > 70 {
				t.Errorf("before renew the token lives %ds at pachd, want about 65", before.TTLSeconds)
			}
			if after.TTLSeconds < 600 || after.TTLSeconds > 610 {
				t.Errorf("1.x renew +10m: token lives %ds at pachd afterwards (was %ds), want about 605", after.TTLSeconds, before.TTLSeconds)
			}
		case 2:
			if before.ExpiresAtMs == nil || after.ExpiresAtMs == nil || *before.ExpiresAtMs != *after.ExpiresAtMs {
				t.Errorf("2.x renew changed the token's expiry at pachd: %v -> %v", ptrString(before.ExpiresAt), ptrString(after.ExpiresAt))
			}
		}
		e.expectWorks("after renew", l.token, "robot:ci")

		// Capped at max_ttl: issued 58 minutes ago, max_ttl 1h.
		r = e.renew(l, 10*time.Minute, time.Now().Add(-58*time.Minute))
		if expectOK(t, "renew near max_ttl", r) && r.Resp != nil && r.Resp.Secret != nil {
			if ttl := r.Resp.Secret.TTL; ttl > 2*time.Minute || ttl < 90*time.Second {
				t.Errorf("renew +10m of a lease 58m into its 1h max_ttl: TTL %v, want about 2m", ttl)
			}
			if !strings.Contains(strings.Join(r.Resp.Warnings, " "), "max_ttl") {
				t.Errorf("capped renew: no warning about max_ttl (warnings %q)", r.Resp.Warnings)
			}
		}

		// Refused past max_ttl: issued 2h ago.
		r = e.renew(l, 10*time.Minute, time.Now().Add(-2*time.Hour))
		expectStatus(t, "renew past max_ttl", r, 400)
		expectErrorContains(t, "renew past max_ttl", r, "max_ttl")
		e.expectWorks("after the refused renew", l.token, "robot:ci")
	})
}

func ptrString(p *string) string {
	if p == nil {
		return "<none>"
	}
	return *p
}

// ---- 5. revoke

func TestEngineRevoke(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, e *engineEnv) {
		e.configure(nil)
		keep := e.login("robot:keep", "30m", "")
		for _, subject := range []string{"robot:ci", e.gen.userSubject} {
			l := e.login(subject, "30m", "")
			e.expectWorks("before revoke", l.token, subject)
			r := e.revoke(l)
			expectOK(t, "revoke "+subject, r)
			e.expectRejected("after revoke of "+subject, l.token, codes.Unauthenticated)
			if _, ok := e.tokens()[hashToken(l.token)]; ok {
				t.Errorf("revoke %s: pachd still holds the token", subject)
			}
			// Vault may send the same revocation again (a retry after a lost answer).
			r = e.revoke(l)
			expectOK(t, "revoke "+subject+" a second time", r)
		}
		e.expectWorks("the lease not revoked", keep.token, "robot:keep")
		e.expectOnlyTokens("after the revocations", keep.token)
	})
}

// ---- 6. an expired lease

func TestEngineRevokeExpired(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, e *engineEnv) {
		e.configure(nil)
		// Both leases first: the plugin computes expiries on its own clock,
		// so the stand-in's clock moves only once they exist.
		var leases []*lease
		for _, subject := range []string{"robot:ci", e.gen.userSubject} {
			leases = append(leases, e.login(subject, "2s", "2s"))
		}
		if _, err := e.pachd.AdvanceClock(e.ctx, 30*time.Second); err != nil {
			t.Fatalf("advancing the stand-in clock: %v", err)
		}
		for _, l := range leases {
			subject, _ := l.data["subject"].(string)
			e.expectRejected("after expiry", l.token, codes.OK)
			r := e.revoke(l)
			expectOK(t, "revoke of the expired lease for "+subject, r)
			if _, ok := e.tokens()[hashToken(l.token)]; ok {
				t.Errorf("%s: pachd still holds the expired token after the revocation", subject)
			}
		}
		e.expectOnlyTokens("after the expired revocations")
	})
}

// ---- 7. faults

func TestEngineMintWhilePachdDown(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, e *engineEnv) {
		e.configure(nil)
		held := e.login("robot:held", "30m", "")

		if err := e.pachd.Unavailable(e.ctx); err != nil {
			t.Fatalf("POST /faults/unavailable: %v", err)
		}
		for _, subject := range []string{"robot:ci", e.gen.userSubject} {
			r := e.write("login", map[string]interface{}{"username": subject, "ttl": "10m"})
			expectStatus(t, "login "+subject+" while pachd is down", r, 502)
			expectErrorContains(t, "login "+subject+" while pachd is down", r, e.pachd.Address, "unreachable")
			if r.Resp != nil && r.Resp.Secret != nil {
				t.Errorf("login while pachd is down returned a lease")
			}
		}
		if err := e.pachd.Available(e.ctx); err != nil {
			t.Fatalf("POST /faults/available: %v", err)
		}
		// Vault's rollback manager ticks every minute; a WAL entry whose
		// rollback fails stays for the next tick. Tick until none is left
		// (the first tick may come too early for the plugin's channel to
		// have found pachd again: see TestEngineFirstRequestAfterOutage).
		ticks := 0
		for deadline := time.Now().Add(10 * time.Second); ; {
			ticks++
			if r := e.rollback(true); r.Err != nil {
				t.Errorf("rollback: %v", r.Err)
			}
			if len(e.walEntries()) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("WAL entries still left after %d immediate rollbacks over 10s with pachd back: %v", ticks, e.walEntries())
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if ticks > 1 {
			t.Logf("the WAL was empty after %d rollback ticks", ticks)
		}
		e.expectOnlyTokens("after the failed logins and the rollback", held.token)
	})
}

// TestEngineMintAnswerLost: pachd mints but its answer never arrives (the
// call outlives request_timeout). With an admin token that may restore, the
// engine picks every token value and journals it before pachd sees it, so
// the rollback revokes whatever pachd created, robots included. Where pachd
// picks the value (an admin that may only generate robot tokens), the
// documented limit holds: the orphan expires at pachd at the lifetime asked.
func TestEngineMintAnswerLost(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, e *engineEnv) {
		e.configure(map[string]interface{}{"request_timeout": "1s"})
		held := e.login("robot:held", "30m", "")
		for _, subject := range []string{"robot:ci", e.gen.userSubject} {
			e.loseMintAnswer(subject, "RestoreAuthToken", true)
		}
		e.expectOnlyTokens("after the lost answers", held.token)
	})
}

func TestEngineMintAnswerLostWherePachdPicksTheValue(t *testing.T) {
	g := pachdGenerations[1]
	t.Run(g.name, func(t *testing.T) {
		e := newEngineEnv(t, g)
		admin, err := e.pachd.CreateToken(e.ctx, "robot:vault", 0, []string{"robotUser"})
		if err != nil {
			t.Fatalf("POST /tokens: %v", err)
		}
		e.addSecret(admin.Token, "the robotUser admin token")
		e.configure(map[string]interface{}{"admin_token": admin.Token, "request_timeout": "1s"})
		if mode := e.read("config").Data()["issuance_mode"]; mode != "pachd-generated" {
			t.Fatalf("issuance_mode = %v, want pachd-generated for a robotUser admin", mode)
		}
		e.loseMintAnswer("robot:ci", "GetRobotToken", false)
	})
}

// loseMintAnswer makes pachd answer method too late for one login of subject
// and checks what the rollback then does with what pachd minted.
func (e *engineEnv) loseMintAnswer(subject, method string, revocable bool) {
	t := e.t
	before := e.tokens()
	if err := e.pachd.SetLatency(e.ctx, method, 2500*time.Millisecond); err != nil {
		t.Fatalf("latency: %v", err)
	}
	r := e.write("login", map[string]interface{}{"username": subject, "ttl": "10m", "max_ttl": "20m"})
	expectStatus(t, "login "+subject+" with pachd answering too late", r, 502)
	expectErrorContains(t, "login "+subject+" with pachd answering too late", r, e.pachd.Address)
	time.Sleep(2 * time.Second) // the delayed handler runs
	if err := e.pachd.SetLatency(e.ctx, method, 0); err != nil {
		t.Fatalf("latency: %v", err)
	}
	var orphans []standin.Token
	for h, tk := range e.tokens() {
		if _, ok := before[h]; !ok {
			orphans = append(orphans, tk)
		}
	}
	if len(orphans) != 1 || orphans[0].Subject != subject {
		t.Fatalf("%s: expected pachd to have minted one token for the lost answer, found %+v", subject, orphans)
	}
	if rr := e.rollback(true); rr.Err != nil {
		t.Errorf("rollback: %v", rr.Err)
	}
	_, alive := e.tokens()[orphans[0].Hash]
	switch {
	case revocable && alive:
		t.Errorf("%s: the rollback left the token of the failed issuance alive at pachd", subject)
	case !revocable && alive:
		// The documented limit: bounded by the lifetime asked for (max_ttl plus pachd's rounding).
		if limit := int64(20*60 + 1); orphans[0].TTLSeconds > limit || orphans[0].TTLSeconds <= 0 {
			t.Errorf("%s: unrevocable orphan lives %ds at pachd, want at most %ds", subject, orphans[0].TTLSeconds, limit)
		}
		t.Logf("%s: as documented, the orphan of the lost answer stays until it expires at pachd (%ds)", subject, orphans[0].TTLSeconds)
		if err := e.pachd.Call(e.ctx, "DELETE", "/tokens/"+orphans[0].Hash, nil, nil); err != nil {
			t.Fatalf("DELETE /tokens: %v", err)
		}
	}
	if wal := e.walEntries(); len(wal) != 0 {
		t.Errorf("%s: WAL entries left after an immediate rollback: %v", subject, wal)
	}
}

func TestEngineRevokeWhilePachdDown(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, e *engineEnv) {
		e.configure(nil)
		l := e.login("robot:ci", "30m", "")
		if err := e.pachd.Unavailable(e.ctx); err != nil {
			t.Fatalf("POST /faults/unavailable: %v", err)
		}
		r := e.revoke(l)
		if r.Err == nil {
			t.Errorf("revoke while pachd is down succeeded (resp=%s): Vault would forget the lease and the token would live on", harness.DescribeResponse(r.Resp))
		} else {
			if errors.Is(r.Err, logical.ErrUnrecoverable) || strings.Contains(errorText(r), logical.ErrUnrecoverable.Error()) {
				t.Errorf("revoke while pachd is down failed as unrecoverable (Vault would stop retrying): %s", errorText(r))
			}
			expectErrorContains(t, "revoke while pachd is down", r, e.pachd.Address, "unreachable")
		}
		if err := e.pachd.Available(e.ctx); err != nil {
			t.Fatalf("POST /faults/available: %v", err)
		}
		e.expectWorks("the token survives the failed revocation", l.token, "robot:ci")
		r = e.revoke(l)
		expectOK(t, "the same revoke once pachd is back", r)
		e.expectRejected("after the retried revoke", l.token, codes.Unauthenticated)
		e.expectOnlyTokens("after the retried revoke")
	})
}

// ---- rotate-root

func TestEngineRotateRoot(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, e *engineEnv) {
		e.configure(nil)
		old := e.pachd.RootToken
		before := e.login("robot:before", "30m", "")

		r := e.write("config/rotate-root", nil)
		if !expectOK(t, "rotate-root", r) {
			return
		}
		if e.gen.generation == 1 {
			// 1.13.4 restores a root token of the engine's choosing (GetAuthToken refuses pach:).
			if d := r.Data(); d["admin_subject"] != "pach:root" || d["rotation_method"] != "restore" || d["admin_token_fingerprint"] == fingerprint(old) {
				t.Errorf("rotate-root on 1.x answered %v, want a new pach:root token installed by restore", d)
			}
			e.expectRejected("the old root token after rotate-root", old, codes.Unauthenticated)
			if rr := e.read("config"); rr.Data()["admin_token_fingerprint"] != r.Data()["admin_token_fingerprint"] {
				t.Errorf("config after rotation: fingerprint %#v, want %v", rr.Data()["admin_token_fingerprint"], r.Data()["admin_token_fingerprint"])
			}
			after := e.login("robot:after", "30m", "")
			e.expectWorks("login after rotate-root", after.token, "robot:after")
			expectOK(t, "revoke a lease issued before the rotation", e.revoke(before))
			e.expectRejected("the pre-rotation lease's token after revoke", before.token, codes.Unauthenticated)
			return
		}
		info, err := e.pachd.Info(e.ctx)
		if err != nil {
			t.Fatalf("GET /info: %v", err)
		}
		e.addSecret(info.RootToken, "the rotated root token (the engine's new admin token)")
		if info.RootToken == old {
			t.Fatalf("pachd's root token did not change")
		}
		if d := r.Data(); d["admin_subject"] != "pach:root" || d["admin_token_fingerprint"] != fingerprint(info.RootToken) {
			t.Errorf("rotate-root answered %v, want admin_subject pach:root and the fingerprint of pachd's new root token %s", d, fingerprint(info.RootToken))
		}
		e.expectRejected("the old root token after rotate-root", old, codes.Unauthenticated)
		e.expectWorks("pachd's new root token", info.RootToken, "pach:root")
		if rr := e.read("config"); rr.Data()["admin_token_fingerprint"] != fingerprint(info.RootToken) {
			t.Errorf("config after rotation: fingerprint %#v, want %s", rr.Data()["admin_token_fingerprint"], fingerprint(info.RootToken))
		}

		after := e.login("robot:after", "30m", "")
		e.expectWorks("login after rotate-root", after.token, "robot:after")
		user := e.login(e.gen.userSubject, "30m", "")
		e.expectWorks("user login after rotate-root", user.token, e.gen.userSubject)
		// a lease from before the rotation is revoked with the new admin token
		expectOK(t, "revoke a lease issued before the rotation", e.revoke(before))
		e.expectRejected("the pre-rotation lease's token after revoke", before.token, codes.Unauthenticated)
		if wal := e.walAfterReleases(); len(wal) != 0 {
			t.Errorf("WAL entries left after a completed rotation: %v", wal)
		}
	})
}
