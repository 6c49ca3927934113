package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"pachyderm-vault-plugin/test/conformance/harness"
	"pachyderm-vault-plugin/test/conformance/standin"
)

// The issuance section: pachd tokens issued through build/pachyderm (Vault's
// request path: existence check, login handler, WAL put, RestoreAuthToken and
// WhoAmI at pachd, lease response, WAL release) against the same two pachd
// calls made directly from Go, both on one generation-1 stand-in.

type issuanceConfig struct {
	requests, warmup, concurrency int
	ttl                           time.Duration
	subject                       string
	plugin, standin               string
}

type issuanceSide struct {
	Label  string        `json:"label"`
	Bench  string        `json:"bench"`
	P50    time.Duration `json:"p50_ns"`
	P99    time.Duration `json:"p99_ns"`
	PerSec float64       `json:"issuances_per_second"`
	Wall   time.Duration `json:"wall_ns"`
	// Tokens the stand-in held at the end of the side's measurement (before
	// they were cleared), root token included.
	TableSize int `json:"standin_tokens_at_end"`
}

// issuanceRun is one measured side: a label, what it does, and where its figures go.
type issuanceRun struct {
	label, bench string
	do           func() (time.Duration, error)
	out          **issuanceSide
}

type issuanceResults struct {
	PachdVersion  string        `json:"pachd_version"`
	PluginVersion string        `json:"plugin_version"`
	Requests      int           `json:"requests"`
	Warmup        int           `json:"warmup"`
	Concurrency   int           `json:"concurrency"`
	Plugin        *issuanceSide `json:"plugin"`
	Direct        *issuanceSide `json:"direct"`
	// One caller: read creds/<a fixed-subject role> through the plugin against the same two pachd
	// calls made directly, one at a time.
	CredsOne  *issuanceSide `json:"creds_one_caller"`
	DirectOne *issuanceSide `json:"direct_one_caller"`
}

func runIssuance(ctx context.Context, c issuanceConfig) (*issuanceResults, error) {
	pluginPath, err := filepath.Abs(c.plugin)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(pluginPath); err != nil || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("%s is not an executable file (%v)", pluginPath, err)
	}
	ttlSeconds := int64(c.ttl / time.Second)
	if ttlSeconds < 1 {
		return nil, fmt.Errorf("-issuance-ttl must be at least 1s")
	}

	fmt.Fprintf(os.Stderr, "bench: issuance: starting the pachd stand-in (generation 1) from %s\n", c.standin)
	pachd, err := standin.Start(ctx, standin.Options{Script: c.standin, Generation: 1})
	if err != nil {
		return nil, err
	}
	defer pachd.Stop()

	cat := harness.New(harness.Options{LogLevel: hclog.Info})
	defer cat.KillAll()
	m, err := cat.MountWith(ctx, pluginPath, nil, harness.MountOptions{Name: "pachyderm"})
	if err != nil {
		return nil, fmt.Errorf("mounting %s: %w\nhost log:\n%s", pluginPath, err, tailString(cat.Log.String(), 4000))
	}
	defer m.Cleanup(context.Background())
	// No bound on token writes in flight: this section measures what the plugin adds to the same
	// pachd calls; the contention section measures the bound.
	r := m.Write(ctx, "config", map[string]interface{}{"pachd_address": pachd.PachdAddress, "admin_token": pachd.RootToken, "pachd_max_in_flight": 0})
	if r.Err != nil || r.Status >= 400 {
		return nil, fmt.Errorf("configuring the plugin: %s", r)
	}

	res := &issuanceResults{
		PachdVersion: pachd.PachdVersion, PluginVersion: m.RunningVersion,
		Requests: c.requests, Warmup: c.warmup, Concurrency: c.concurrency,
	}

	// Tokens pile up in the stand-in's table. Between the sides every token
	// but the root token is deleted through the control API, so each side
	// starts with the root token alone. (Moving the stand-in's clock past their
	// expiry instead would put pachd's clock ahead of the plugin's, and a
	// token the plugin installs with an expiry would then be in pachd's past.)
	// The leases are not revoked: Vault would revoke them at expiry, long
	// after a measurement.
	clearTable := func() (int, error) {
		before, err := pachd.Tokens(ctx)
		if err != nil {
			return 0, err
		}
		root := hashHex(pachd.RootToken)
		for _, tk := range before {
			if tk.Hash == root {
				continue
			}
			if err := pachd.Call(ctx, "DELETE", "/tokens/"+tk.Hash, nil, nil); err != nil {
				return 0, err
			}
		}
		after, err := pachd.Tokens(ctx)
		if err != nil {
			return 0, err
		}
		if len(after) != 1 {
			return 0, fmt.Errorf("the stand-in still holds %d tokens after deleting them", len(after))
		}
		return len(before), nil
	}

	// through the plugin
	loginData := map[string]interface{}{"username": c.subject, "ttl": shortDuration(c.ttl)}
	viaPlugin := func() (time.Duration, error) {
		req := m.NewRequest(logical.UpdateOperation, "login", copyData(loginData))
		start := time.Now()
		r := m.Do(ctx, req)
		d := time.Since(start)
		if r.Err != nil || r.Status >= 400 || r.Resp == nil || r.Resp.Secret == nil {
			return d, fmt.Errorf("login through the plugin: %s", r)
		}
		if tok, _ := r.Resp.Data["user_token"].(string); tok == "" {
			return d, fmt.Errorf("login through the plugin returned no user_token: %s", r)
		}
		return d, nil
	}

	// directly
	conn, err := grpc.NewClient("passthrough:///"+pachd.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// What the plugin asks pachd for each token: install a value it picked
	// (RestoreAuthToken), then pachd's word on its expiry (WhoAmI as the token).
	direct := func() (time.Duration, error) {
		token := randomHexToken()
		req := standin.RestoreAuthTokenV1Request(hashHex(token), c.subject, time.Now().Add(c.ttl+5*time.Second))
		start := time.Now()
		if _, err := standin.Invoke(ctx, conn, "/auth.API/RestoreAuthToken", pachd.RootToken, req); err != nil {
			return time.Since(start), fmt.Errorf("RestoreAuthToken: %w", err)
		}
		if _, err := standin.Invoke(ctx, conn, "/auth.API/WhoAmI", token, nil); err != nil {
			return time.Since(start), fmt.Errorf("WhoAmI: %w", err)
		}
		return time.Since(start), nil
	}

	// One caller, through a role: what a client reading creds/<role> waits for.
	role := m.Write(ctx, "roles/bench", map[string]interface{}{"subject": c.subject, "ttl": shortDuration(c.ttl)})
	if role.Err != nil || role.Status >= 400 {
		return nil, fmt.Errorf("writing roles/bench: %s", role)
	}
	viaCreds := func() (time.Duration, error) { return readCredsBench(ctx, m) }

	sides := []issuanceRun{
		{"plugin", fmt.Sprintf("update login username=%s ttl=%s", c.subject, shortDuration(c.ttl)), viaPlugin, &res.Plugin},
		{"direct", fmt.Sprintf("/auth.API/RestoreAuthToken subject=%s ttl=%d, then /auth.API/WhoAmI", c.subject, ttlSeconds), direct, &res.Direct},
	}
	inFlight := []int{c.concurrency, c.concurrency, 1, 1}
	sides = append(sides,
		issuanceRun{"creds, one caller", "read creds/bench (roles/bench subject=" + c.subject + ")", viaCreds, &res.CredsOne},
		issuanceRun{"direct, one caller", "RestoreAuthToken, then WhoAmI", direct, &res.DirectOne},
	)
	for i, s := range sides {
		concurrency := inFlight[i]
		fmt.Fprintf(os.Stderr, "bench: issuance: %s: %d warm-up, %d measured, %d in flight\n", s.label, c.warmup, c.requests, concurrency)
		if _, err := s.do(); err != nil {
			return nil, err
		}
		if err := concurrent(c.warmup, concurrency, s.do, nil); err != nil {
			return nil, err
		}
		if _, err := clearTable(); err != nil {
			return nil, err
		}
		lat := make([]time.Duration, c.requests)
		start := time.Now()
		if err := concurrent(c.requests, concurrency, s.do, lat); err != nil {
			return nil, err
		}
		wall := time.Since(start)
		n, err := clearTable()
		if err != nil {
			return nil, err
		}
		*s.out = &issuanceSide{
			Label: s.label, Bench: s.bench,
			P50: percentile(lat, 50), P99: percentile(lat, 99),
			PerSec: float64(c.requests) / wall.Seconds(), Wall: wall, TableSize: n,
		}
	}
	return res, nil
}

func printIssuance(c issuanceConfig, r *issuanceResults) {
	fmt.Printf("token issuance: pachd stand-in %s (generation 1), plugin %s, %d issuances per side after %d warm-up, %d in flight\n",
		r.PachdVersion, orNone(r.PluginVersion), r.Requests, r.Warmup, r.Concurrency)
	fmt.Printf("plugin: %s\n", r.Plugin.Bench)
	fmt.Printf("direct: %s\n\n", r.Direct.Bench)
	fmt.Printf("%-24s %12s %12s %14s\n", "metric", "plugin", "direct", "plugin/direct")
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	row := func(name string, x, y float64, format string) {
		ratio := "n/a"
		if y != 0 {
			ratio = fmt.Sprintf("%.2f", x/y)
		}
		fmt.Printf("%-24s %12s %12s %14s\n", name, fmt.Sprintf(format, x), fmt.Sprintf(format, y), ratio)
	}
	row("issuances/s", r.Plugin.PerSec, r.Direct.PerSec, "%.0f")
	row("p50 (µs)", us(r.Plugin.P50), us(r.Direct.P50), "%.0f")
	row("p99 (µs)", us(r.Plugin.P99), us(r.Direct.P99), "%.0f")
	fmt.Printf("\none caller, %s against the direct pair\n", r.CredsOne.Bench)
	row("p50 (µs)", us(r.CredsOne.P50), us(r.DirectOne.P50), "%.0f")
	row("p99 (µs)", us(r.CredsOne.P99), us(r.DirectOne.P99), "%.0f")
	fmt.Printf("\n(plugin with pachd_max_in_flight=0; stand-in token table at the end of each side: plugin %d, direct %d rows; cleared before the next side)\n",
		r.Plugin.TableSize, r.Direct.TableSize)
}

func randomHexToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func hashHex(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// shortDuration writes 10m rather than 10m0s.
func shortDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

// readCredsBench reads creds/bench once and times it as the host sees it; an answer without a
// lease is a failure.
func readCredsBench(ctx context.Context, m *harness.Mount) (time.Duration, error) {
	req := m.NewRequest(logical.ReadOperation, "creds/bench", nil)
	start := time.Now()
	r := m.Do(ctx, req)
	d := time.Since(start)
	if r.Err != nil || r.Status >= 400 || r.Resp == nil || r.Resp.Secret == nil {
		return d, fmt.Errorf("read creds/bench: %s", r)
	}
	return d, nil
}
