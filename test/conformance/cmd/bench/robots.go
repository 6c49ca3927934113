package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"pachyderm-vault-plugin/test/conformance/harness"
	"pachyderm-vault-plugin/test/conformance/standin"
)

// The dynamic robots section: what a role with role_bindings costs beside a
// role with a fixed subject, through build/pachyderm against one pachd 2.x
// stand-in. A dynamic read grants a new robot its bindings before its token
// is minted, and revoking its lease revokes the robot's tokens and removes
// each binding; a fixed read mints a token for robot:bench, and revoking it
// revokes that token. Reads and revocations are sequential (one request in
// flight), the fixed and the dynamic request alternating so that both see
// the same machine; every lease read is revoked again.
//
// The section's flags live here, so that it is switched on and sized without
// touching main.go's flag list: -robots, -robots-requests, -robots-warmup,
// -robots-ttl.

var robotFlags = struct {
	enabled          *bool
	requests, warmup *int
	ttl              *time.Duration
}{
	enabled:  flag.Bool("robots", true, "run the dynamic robots section (creds and lease revocation of a role_bindings role beside a fixed-subject role, pachd 2.x)"),
	requests: flag.Int("robots-requests", 300, "measured reads and revocations per role (dynamic robots section)"),
	warmup:   flag.Int("robots-warmup", 20, "unmeasured read-and-revoke rounds per role before measuring (dynamic robots section)"),
	ttl:      flag.Duration("robots-ttl", 10*time.Minute, "ttl of both roles (dynamic robots section)"),
}

// robotBindings are the dynamic role's bindings: three resources, so three
// ModifyRoleBinding calls to grant and three to remove.
var robotBindings = []string{"repo:default/images=repoReader", "repo:default/edges=repoWriter", "project:default=projectViewer"}

type robotsConfig struct {
	requests, warmup int
	ttl              time.Duration
	plugin, standin  string
}

func robotsConfigFromFlags(plugin, standinScript string) robotsConfig {
	return robotsConfig{requests: *robotFlags.requests, warmup: *robotFlags.warmup, ttl: *robotFlags.ttl, plugin: plugin, standin: standinScript}
}

type robotsOp struct {
	Label string `json:"label"`
	Bench string `json:"bench"`
	// What the engine asks pachd for each operation (from the engine's code;
	// CallsPerOp confirms the count).
	PachdCalls string        `json:"pachd_calls"`
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	// PerSec is operations per second with one in flight: n / Σ latency.
	PerSec float64 `json:"operations_per_second"`
	// Calls and writes that reached the stand-in per operation (GET /stats).
	CallsPerOp  float64 `json:"pachd_calls_per_operation"`
	WritesPerOp float64 `json:"pachd_writes_per_operation"`
}

type robotsResults struct {
	PachdVersion  string    `json:"pachd_version"`
	PluginVersion string    `json:"plugin_version"`
	Requests      int       `json:"requests"`
	Warmup        int       `json:"warmup"`
	RoleBindings  []string  `json:"role_bindings"`
	FixedRead     *robotsOp `json:"fixed_read"`
	DynamicRead   *robotsOp `json:"dynamic_read"`
	FixedRevoke   *robotsOp `json:"fixed_revoke"`
	DynamicRevoke *robotsOp `json:"dynamic_revoke"`
	// What the stand-in held once every measured lease was read, before the revocations.
	PeakTokens   int `json:"standin_tokens_at_peak"`
	PeakBindings int `json:"standin_bindings_at_peak"`
}

// robotLease is what Vault's expiration manager keeps of a lease.
type robotLease struct {
	path      string
	data      map[string]interface{}
	secret    logical.Secret
	issueTime time.Time
}

func runRobots(ctx context.Context, c robotsConfig) (*robotsResults, error) {
	if c.requests < 1 || c.warmup < 0 {
		return nil, fmt.Errorf("-robots-requests must be at least 1, -robots-warmup at least 0")
	}
	pluginPath, err := filepath.Abs(c.plugin)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(pluginPath); err != nil || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("%s is not an executable file (%v)", pluginPath, err)
	}
	fmt.Fprintf(os.Stderr, "bench: robots: starting the pachd stand-in (generation 2) from %s\n", c.standin)
	pachd, err := standin.Start(ctx, standin.Options{Script: c.standin, Generation: 2})
	if err != nil {
		return nil, err
	}
	defer pachd.Stop()
	for _, repo := range []string{"images", "edges"} {
		if _, err := pachd.CreateRepo(ctx, "", repo, ""); err != nil {
			return nil, fmt.Errorf("creating repo %s at the stand-in: %w", repo, err)
		}
	}

	cat := harness.New(harness.Options{LogLevel: hclog.Info})
	defer cat.KillAll()
	m, err := cat.MountWith(ctx, pluginPath, nil, harness.MountOptions{Name: "pachyderm"})
	if err != nil {
		return nil, fmt.Errorf("mounting %s: %w\nhost log:\n%s", pluginPath, err, tailString(cat.Log.String(), 4000))
	}
	defer m.Cleanup(context.Background())
	// No bound on token writes in flight, as in the issuance section: one request is in flight anyway.
	setup := []struct {
		path string
		data map[string]interface{}
	}{
		{"config", map[string]interface{}{"pachd_address": pachd.PachdAddress, "admin_token": pachd.RootToken, "pachd_max_in_flight": 0}},
		{"roles/fixed", map[string]interface{}{"subject": "robot:bench", "ttl": shortDuration(c.ttl)}},
		{"roles/dynamic", map[string]interface{}{"role_bindings": strings.Join(robotBindings, ","), "ttl": shortDuration(c.ttl)}},
	}
	for _, s := range setup {
		if r := m.Write(ctx, s.path, s.data); r.Err != nil || r.Status >= 400 {
			return nil, fmt.Errorf("write %s: %s", s.path, r)
		}
	}

	read := func(role string) (*robotLease, time.Duration, error) {
		req := m.NewRequest(logical.ReadOperation, "creds/"+role, nil)
		start := time.Now()
		r := m.Do(ctx, req)
		d := time.Since(start)
		if r.Err != nil || r.Status >= 400 || r.Resp == nil || r.Resp.Secret == nil {
			return nil, d, fmt.Errorf("read creds/%s: %s", role, r)
		}
		if tok, _ := r.Resp.Data["user_token"].(string); tok == "" {
			return nil, d, fmt.Errorf("read creds/%s returned no user_token: %s", role, r)
		}
		return &robotLease{path: req.Path, data: r.Resp.Data, secret: *r.Resp.Secret, issueTime: start}, d, nil
	}
	// What the expiration manager sends to revoke a lease.
	revoke := func(l *robotLease) (time.Duration, error) {
		s := l.secret
		s.IssueTime = l.issueTime
		s.Increment = 0
		s.LeaseID = "pachyderm/" + l.path + "/bench"
		req := m.NewRequest(logical.RevokeOperation, l.path, l.data)
		req.Secret = &s
		start := time.Now()
		r := m.Do(ctx, req)
		d := time.Since(start)
		if r.Err != nil || r.Status >= 400 {
			return d, fmt.Errorf("revoke a lease of %s: %s", l.path, r)
		}
		return d, nil
	}

	roles := []string{"fixed", "dynamic"}
	fmt.Fprintf(os.Stderr, "bench: robots: %d warm-up rounds, then %d reads and %d revocations per role, alternating\n", c.warmup, c.requests, c.requests)
	for i := 0; i < c.warmup; i++ {
		for _, role := range roles {
			l, _, err := read(role)
			if err != nil {
				return nil, err
			}
			if _, err := revoke(l); err != nil {
				return nil, err
			}
		}
	}

	type side struct {
		lat           []time.Duration
		calls, writes int64
		leases        []*robotLease
	}
	res := &robotsResults{PachdVersion: pachd.PachdVersion, PluginVersion: m.RunningVersion, Requests: c.requests, Warmup: c.warmup, RoleBindings: robotBindings}
	sides := map[string]*side{
		"fixed":   {},
		"dynamic": {},
	}
	// measure runs op n times per role, alternating, and counts what each
	// reached pachd (the stand-in's counters between two operations).
	measure := func(op func(role string, i int) (time.Duration, error)) error {
		for _, role := range roles {
			s := sides[role]
			s.lat, s.calls, s.writes = make([]time.Duration, c.requests), 0, 0
		}
		prev, err := pachd.Stats(ctx)
		if err != nil {
			return err
		}
		for i := 0; i < c.requests; i++ {
			for _, role := range roles {
				s := sides[role]
				d, err := op(role, i)
				if err != nil {
					return err
				}
				s.lat[i] = d
				now, err := pachd.Stats(ctx)
				if err != nil {
					return err
				}
				s.calls += now.Calls.Total - prev.Calls.Total
				s.writes += now.Writes.Total - prev.Writes.Total
				prev = now
			}
		}
		return nil
	}
	summarize := func(s *side, label, bench, calls string) *robotsOp {
		var sum time.Duration
		for _, d := range s.lat {
			sum += d
		}
		n := float64(len(s.lat))
		return &robotsOp{
			Label: label, Bench: bench, PachdCalls: calls,
			P50: percentile(s.lat, 50), P99: percentile(s.lat, 99), PerSec: n / sum.Seconds(),
			CallsPerOp: float64(s.calls) / n, WritesPerOp: float64(s.writes) / n,
		}
	}

	// reads
	for _, role := range roles {
		sides[role].leases = make([]*robotLease, c.requests)
	}
	err = measure(func(role string, i int) (time.Duration, error) {
		l, d, err := read(role)
		if err == nil {
			sides[role].leases[i] = l
		}
		return d, err
	})
	if err != nil {
		return nil, err
	}
	res.FixedRead = summarize(sides["fixed"], "fixed", "read creds/fixed", "RestoreAuthToken, WhoAmI")
	res.DynamicRead = summarize(sides["dynamic"], "dynamic", "read creds/dynamic",
		"3× ModifyRoleBinding, RestoreAuthToken, WhoAmI")

	// what pachd holds at the peak: every measured lease alive
	tokens, err := pachd.Tokens(ctx)
	if err != nil {
		return nil, err
	}
	res.PeakTokens = len(tokens)
	if res.PeakBindings, err = robotBindingCount(ctx, pachd); err != nil {
		return nil, err
	}
	if want := c.requests * len(robotBindings); res.PeakBindings != want {
		return nil, fmt.Errorf("after %d dynamic reads the stand-in holds %d robot bindings, want %d", c.requests, res.PeakBindings, want)
	}

	// revocations
	err = measure(func(role string, i int) (time.Duration, error) {
		return revoke(sides[role].leases[i])
	})
	if err != nil {
		return nil, err
	}
	res.FixedRevoke = summarize(sides["fixed"], "fixed", "revoke a creds/fixed lease", "RevokeAuthToken")
	res.DynamicRevoke = summarize(sides["dynamic"], "dynamic", "revoke a creds/dynamic lease",
		"RevokeAuthTokensForUser, 3× ModifyRoleBinding (roles [])")

	// Nothing may be left: a benchmark of a revocation that does not revoke measures nothing.
	left, err := robotBindingCount(ctx, pachd)
	if err != nil {
		return nil, err
	}
	if tokens, err = pachd.Tokens(ctx); err != nil {
		return nil, err
	}
	live := 0
	for _, tk := range tokens {
		if !tk.Expired && tk.Hash != hashHex(pachd.RootToken) {
			live++
		}
	}
	if left != 0 || live != 0 {
		return nil, fmt.Errorf("after revoking every lease the stand-in still holds %d robot bindings and %d tokens besides the root token", left, live)
	}
	return res, nil
}

// robotBindingCount counts the role bindings held by the engine's dynamic robots.
func robotBindingCount(ctx context.Context, pachd *standin.Standin) (int, error) {
	all, err := pachd.Bindings(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, res := range all {
		for principal, roles := range res.Entries {
			if strings.HasPrefix(principal, "robot:vault-") {
				n += len(roles)
			}
		}
	}
	return n, nil
}

func printRobots(r *robotsResults) {
	fmt.Printf("dynamic robots: pachd stand-in %s (generation 2), plugin %s, %d reads and %d revocations per role after %d warm-up rounds, one in flight\n",
		r.PachdVersion, orNone(r.PluginVersion), r.Requests, r.Requests, r.Warmup)
	fmt.Printf("fixed:   roles/fixed subject=robot:bench\n")
	fmt.Printf("dynamic: roles/dynamic role_bindings=%s\n\n", strings.Join(r.RoleBindings, ","))
	fmt.Printf("%-22s %10s %10s %16s\n", "metric", "fixed", "dynamic", "dynamic/fixed")
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	row := func(name string, x, y float64, format string) {
		ratio := "n/a"
		if x != 0 {
			ratio = fmt.Sprintf("%.2f", y/x)
		}
		fmt.Printf("%-22s %10s %10s %16s\n", name, fmt.Sprintf(format, x), fmt.Sprintf(format, y), ratio)
	}
	for _, pair := range []struct {
		what           string
		fixed, dynamic *robotsOp
	}{
		{"read creds", r.FixedRead, r.DynamicRead},
		{"revoke lease", r.FixedRevoke, r.DynamicRevoke},
	} {
		fmt.Printf("%s\n", pair.what)
		row("  p50 (µs)", us(pair.fixed.P50), us(pair.dynamic.P50), "%.0f")
		row("  p99 (µs)", us(pair.fixed.P99), us(pair.dynamic.P99), "%.0f")
		row("  per second", pair.fixed.PerSec, pair.dynamic.PerSec, "%.0f")
		row("  pachd calls/op", pair.fixed.CallsPerOp, pair.dynamic.CallsPerOp, "%.2f")
		row("  pachd writes/op", pair.fixed.WritesPerOp, pair.dynamic.WritesPerOp, "%.2f")
	}
	fmt.Printf("\npachd calls per operation (from the engine's code; the counts above are the stand-in's):\n")
	for _, op := range []*robotsOp{r.FixedRead, r.DynamicRead, r.FixedRevoke, r.DynamicRevoke} {
		fmt.Printf("  %-30s %s\n", op.Bench, op.PachdCalls)
	}
	fmt.Printf("\n(plugin with pachd_max_in_flight=0; per second = n / Σ latency with one request in flight; with every measured lease alive the stand-in held %d tokens and %d robot bindings)\n",
		r.PeakTokens, r.PeakBindings)
}
