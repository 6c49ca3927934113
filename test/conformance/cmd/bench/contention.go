package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"pachyderm-vault-plugin/test/conformance/harness"
	"pachyderm-vault-plugin/test/conformance/standin"
)

// The contention section: token issuance through build/pachyderm against a
// pachd 2.x stand-in in contention mode, where token writes serialize and
// their latency and failure rate grow with the number in flight (calibrated
// on a real pachd 2.11.6, see test/pachd/README.md). Callers keep 1, 16 and
// 64 issuances in flight for a fixed window, with the engine's bound on
// token writes in flight (pachd_max_in_flight, its default) and without it
// (0). What the bound is for: with many callers the rate stays near the
// single caller's, and nothing fails, where without it pachd collapses.

type contentionConfig struct {
	window          time.Duration
	callers         []int
	bound           int
	plugin, standin string
}

type contentionCell struct {
	Bound   int     `json:"pachd_max_in_flight"`
	Callers int     `json:"callers"`
	Issued  int64   `json:"issued"`
	Failed  int64   `json:"failed"`
	PerSec  float64 `json:"issuances_per_second"`
	// Ratio to the single caller's rate with the same bound.
	Ratio float64       `json:"ratio_to_single_caller"`
	P50   time.Duration `json:"p50_ns"`
	P99   time.Duration `json:"p99_ns"`
	// The most token writes pachd saw in flight at once during the cell.
	PachdMaxInFlight int64 `json:"pachd_max_writes_in_flight"`
	// Writes the stand-in stalled (never applied) during the cell.
	PachdStalled int64 `json:"pachd_stalled_writes"`
	// The first few distinct failure messages.
	Failures []string `json:"failures,omitempty"`
}

type contentionResults struct {
	PachdVersion  string           `json:"pachd_version"`
	PluginVersion string           `json:"plugin_version"`
	Window        time.Duration    `json:"window_ns"`
	Cells         []contentionCell `json:"cells"`
}

func runContention(ctx context.Context, c contentionConfig) (*contentionResults, error) {
	pluginPath, err := filepath.Abs(c.plugin)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "bench: contention: starting the pachd stand-in (generation 2, contention mode) from %s\n", c.standin)
	pachd, err := standin.Start(ctx, standin.Options{Script: c.standin, Generation: 2})
	if err != nil {
		return nil, err
	}
	defer pachd.Stop()
	if err := pachd.SetContention(ctx, standin.ContentionOptions{Enabled: true, Seed: 1}); err != nil {
		return nil, err
	}

	cat := harness.New(harness.Options{LogLevel: hclog.Info})
	defer cat.KillAll()
	m, err := cat.MountWith(ctx, pluginPath, nil, harness.MountOptions{Name: "pachyderm"})
	if err != nil {
		return nil, fmt.Errorf("mounting %s: %w\nhost log:\n%s", pluginPath, err, tailString(cat.Log.String(), 4000))
	}
	defer m.Cleanup(context.Background())
	res := &contentionResults{PachdVersion: pachd.PachdVersion, PluginVersion: m.RunningVersion, Window: c.window}

	// Warm up the plugin (JIT, channels) so the first measured cell is not also its first requests.
	if r := m.Write(ctx, "config", map[string]interface{}{"pachd_address": pachd.PachdAddress, "admin_token": pachd.RootToken}); r.Err != nil || r.Status >= 400 {
		return nil, fmt.Errorf("configuring the plugin: %s", r)
	}
	if _, err := contentionCellRun(ctx, m, pachd, 4, 2*time.Second); err != nil {
		return nil, err
	}
	for _, bound := range []int{c.bound, 0} {
		r := m.Write(ctx, "config", map[string]interface{}{
			"pachd_address": pachd.PachdAddress, "admin_token": pachd.RootToken, "pachd_max_in_flight": bound,
		})
		if r.Err != nil || r.Status >= 400 {
			return nil, fmt.Errorf("configuring the plugin: %s", r)
		}
		var single float64
		for _, callers := range c.callers {
			fmt.Fprintf(os.Stderr, "bench: contention: pachd_max_in_flight=%d, %d callers, %s\n", bound, callers, c.window)
			cell, err := contentionCellRun(ctx, m, pachd, callers, c.window)
			if err != nil {
				return nil, err
			}
			cell.Bound = bound
			if callers == 1 {
				single = cell.PerSec
			}
			if single > 0 {
				cell.Ratio = cell.PerSec / single
			}
			res.Cells = append(res.Cells, *cell)
		}
	}
	return res, nil
}

// contentionCellRun keeps `callers` logins in flight for `window`, then waits
// for the stragglers, and counts what finished within the window.
func contentionCellRun(ctx context.Context, m *harness.Mount, pachd *standin.Standin, callers int, window time.Duration) (*contentionCell, error) {
	if err := pachd.ResetStats(ctx); err != nil {
		return nil, err
	}
	var issued, failed atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	failures := map[string]bool{}
	stop := time.Now().Add(window)
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for n := 0; time.Now().Before(stop); n++ {
				req := m.NewRequest(logical.UpdateOperation, "login", map[string]interface{}{"username": fmt.Sprintf("robot:bench-%d", i)})
				reqCtx, cancel := context.WithTimeout(ctx, 90*time.Second) // Vault's default max_request_duration
				start := time.Now()
				r := m.Do(reqCtx, req)
				d := time.Since(start)
				cancel()
				if time.Now().After(stop) {
					return // finished past the window: not counted
				}
				if r.Err != nil || r.Status >= 400 || r.Resp == nil || r.Resp.Secret == nil {
					failed.Add(1)
					mu.Lock()
					if len(failures) < 5 {
						failures[fmt.Sprintf("%d %.200s", r.Status, errText(r))] = true
					}
					mu.Unlock()
					continue
				}
				issued.Add(1)
				mu.Lock()
				latencies = append(latencies, d)
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	stats, err := pachd.Stats(ctx)
	if err != nil {
		return nil, err
	}
	cell := &contentionCell{
		Callers: callers, Issued: issued.Load(), Failed: failed.Load(),
		PerSec:           float64(issued.Load()) / window.Seconds(),
		PachdMaxInFlight: stats.Writes.MaxInFlight, PachdStalled: stats.Writes.Stalled,
	}
	if len(latencies) > 0 {
		cell.P50, cell.P99 = percentile(latencies, 50), percentile(latencies, 99)
	}
	for f := range failures {
		cell.Failures = append(cell.Failures, f)
	}
	sort.Strings(cell.Failures)
	return cell, nil
}

func errText(r *harness.Result) string {
	if r.StatusErr != nil {
		return r.StatusErr.Error()
	}
	if r.Err != nil {
		return r.Err.Error()
	}
	return ""
}

func printContention(r *contentionResults) {
	fmt.Printf("issuance under contention: pachd stand-in %s (generation 2, contention mode calibrated on pachd 2.11.6), plugin %s, %s per cell\n",
		r.PachdVersion, orNone(r.PluginVersion), r.Window)
	fmt.Printf("%-10s %8s %10s %8s %12s %9s %10s %10s %11s %8s\n",
		"bound", "callers", "issued", "failed", "issuances/s", "ratio", "p50 (ms)", "p99 (ms)", "pachd max", "stalled")
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	for _, c := range r.Cells {
		bound := fmt.Sprintf("%d", c.Bound)
		if c.Bound == 0 {
			bound = "none"
		}
		fmt.Printf("%-10s %8d %10d %8d %12.0f %9.2f %10.1f %10.1f %11d %8d\n",
			bound, c.Callers, c.Issued, c.Failed, c.PerSec, c.Ratio, ms(c.P50), ms(c.P99), c.PachdMaxInFlight, c.PachdStalled)
	}
	for _, c := range r.Cells {
		for _, f := range c.Failures {
			fmt.Printf("  failure (bound %d, %d callers): %s\n", c.Bound, c.Callers, f)
		}
	}
	fmt.Println("\n(ratio: issuances/s against the single caller's with the same bound; pachd max: the most token writes pachd saw in flight at once)")
}
