package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"pachyderm-vault-plugin/test/conformance/harness"
	"pachyderm-vault-plugin/test/conformance/standin"
)

// The issuance breakdown: where one issuance's time goes. The plugin runs at trace level with
// PLUGIN_ISSUANCE_TIMING=1, where issue-token.ts logs the duration of each phase of each
// issuance (issuance-timing.ts); the bench times the same requests from the host's side, so
// what is left (the host's round trip, decoding, routing, field checks, encoding the answer and
// the existence check Vault makes before an update) is the total less the phases. CPU per
// issuance comes from /proc for the plugin and the stand-in, and from getrusage for this
// process (the host's side: storage and system view served over the broker, the client).
// Phases that wait on the host, storage or pachd include the time the request sat in the
// event loop's queue behind others: compare the 1-in-flight column with the 16.

var breakdownFlags = struct {
	enabled  *bool
	requests *int
}{
	enabled:  flag.Bool("breakdown", true, "run the issuance breakdown (phases of one issuance at trace level, CPU per issuance)"),
	requests: flag.Int("breakdown-requests", 500, "measured issuances per column of the breakdown"),
}

// How long after the last answer its journal is surely released (the plugin waits half a second).
const journalReleaseWait = 800 * time.Millisecond

// The phases issue-token.ts times, in the order an issuance goes through them.
var phaseOrder = []string{
	"config_and_checks_ms", "host_mount_ttls_ms", "ttls_and_home_ms", "storage_wal_put_ms",
	"pachd_mint_ms", "pachd_bindings_and_mint_ms", "storage_wal_record_ms", "pachd_whoami_ms", "answer_ms",
	"storage_wal_delete_ms", "abandon_ms",
}

type breakdownColumn struct {
	InFlight      int                `json:"in_flight"`
	Requests      int                `json:"requests"`
	MeanTotal     time.Duration      `json:"mean_total_ns"`
	MeanPhases    map[string]float64 `json:"mean_phase_ms"`
	AfterResponse map[string]float64 `json:"mean_after_response_ms"`
	PluginCPU     time.Duration      `json:"plugin_cpu_per_issuance_ns"`
	StandinCPU    time.Duration      `json:"standin_cpu_per_issuance_ns"`
	HostCPU       time.Duration      `json:"host_cpu_per_issuance_ns"`
	StorageWrites float64            `json:"storage_writes_per_issuance"`
	PerSec        float64            `json:"issuances_per_second"`
}

type breakdownResults struct {
	Columns []breakdownColumn `json:"columns"`
	Order   []string          `json:"phase_order"`
}

func runBreakdown(ctx context.Context, c issuanceConfig, requests, concurrency int) (*breakdownResults, error) {
	pluginPath, err := filepath.Abs(c.plugin)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "bench: breakdown: starting the pachd stand-in (generation 1)\n")
	pachd, err := standin.Start(ctx, standin.Options{Script: c.standin, Generation: 1})
	if err != nil {
		return nil, err
	}
	defer pachd.Stop()

	// go-plugin hands the host's environment to the plugin: this one mount logs its issuance
	// timings, which need both the trace level and PLUGIN_ISSUANCE_TIMING.
	restore := setEnvs(map[string]string{"PLUGIN_LOG_LEVEL": "trace", "PLUGIN_ISSUANCE_TIMING": "1"})
	cat := harness.New(harness.Options{LogLevel: hclog.Trace})
	defer cat.KillAll()
	m, err := cat.MountWith(ctx, pluginPath, nil, harness.MountOptions{Name: "pachyderm-trace"})
	restore()
	if err != nil {
		return nil, fmt.Errorf("mounting %s: %w", pluginPath, err)
	}
	defer m.Cleanup(context.Background())
	for _, w := range []struct {
		path string
		data map[string]interface{}
	}{
		{"config", map[string]interface{}{"pachd_address": pachd.PachdAddress, "admin_token": pachd.RootToken, "pachd_max_in_flight": 0}},
		{"roles/bench", map[string]interface{}{"subject": c.subject, "ttl": shortDuration(c.ttl)}},
	} {
		if r := m.Write(ctx, w.path, w.data); r.Err != nil || r.Status >= 400 {
			return nil, fmt.Errorf("writing %s: %s", w.path, r)
		}
	}
	do := func() (time.Duration, error) { return readCredsBench(ctx, m) }

	res := &breakdownResults{}
	order := map[string]int{}
	for _, inFlight := range []int{1, concurrency} {
		if err := concurrent(c.warmup, inFlight, do, nil); err != nil {
			return nil, err
		}
		// The warm-up's journals are released half a second after their answers.
		time.Sleep(journalReleaseWait)
		mark := cat.Log.Len()
		writesBefore := m.Guard.Writes.Load()
		pluginBefore, standinBefore, hostBefore := procCPU(m.PID()), procCPU(pachd.PID()), selfCPU()
		lat := make([]time.Duration, requests)
		start := time.Now()
		if err := concurrent(requests, inFlight, do, lat); err != nil {
			return nil, err
		}
		wall := time.Since(start)
		// The measured issuances' releases, their CPU and storage writes included.
		time.Sleep(journalReleaseWait)
		col := breakdownColumn{
			InFlight: inFlight, Requests: requests, PerSec: float64(requests) / wall.Seconds(),
			PluginCPU:  (procCPU(m.PID()) - pluginBefore) / time.Duration(requests),
			StandinCPU: (procCPU(pachd.PID()) - standinBefore) / time.Duration(requests),
			HostCPU:    (selfCPU() - hostBefore) / time.Duration(requests),
			// Puts and deletes: WAL journal entries, and nothing else on this path.
			StorageWrites: float64(m.Guard.Writes.Load()-writesBefore) / float64(requests),
		}
		var total time.Duration
		for _, d := range lat {
			total += d
		}
		col.MeanTotal = total / time.Duration(requests)
		col.MeanPhases = meanPhases(cat.Log.Since(mark), "issuance timing", order)
		col.AfterResponse = meanPhases(cat.Log.Since(mark), "issuance journal settled", order)
		res.Columns = append(res.Columns, col)
		if _, err := pachdClear(ctx, pachd); err != nil {
			return nil, err
		}
	}
	for name := range order {
		res.Order = append(res.Order, name)
	}
	// issue-token.ts's order; a phase the bench does not know goes last.
	rank := func(name string) int {
		for i, known := range phaseOrder {
			if name == known {
				return i
			}
		}
		return len(phaseOrder) + order[name]
	}
	sort.Slice(res.Order, func(i, j int) bool { return rank(res.Order[i]) < rank(res.Order[j]) })
	return res, nil
}

// meanPhases averages the *_ms fields of the plugin's lines with this message; order records
// the order in which phase names were first seen.
func meanPhases(log, message string, order map[string]int) map[string]float64 {
	sums, n := map[string]float64{}, 0
	for _, e := range harness.ParseLogLines(log) {
		if e.Message != message {
			continue
		}
		n++
		keys := make([]string, 0, len(e.Fields))
		for k := range e.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !strings.HasSuffix(k, "_ms") {
				continue
			}
			v, ok := e.Fields[k].(float64)
			if !ok {
				continue
			}
			if _, seen := order[k]; !seen {
				order[k] = len(order)
			}
			sums[k] += v
		}
	}
	for k := range sums {
		sums[k] /= float64(n)
	}
	return sums
}

// procCPU is a process's user and system CPU time so far (0 when unreadable).
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which sits in parentheses and may hold spaces.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pachdClear deletes every token but the root token from the stand-in's table.
func pachdClear(ctx context.Context, pachd *standin.Standin) (int, error) {
	tokens, err := pachd.Tokens(ctx)
	if err != nil {
		return 0, err
	}
	root := hashHex(pachd.RootToken)
	for _, tk := range tokens {
		if tk.Hash != root {
			if err := pachd.Call(ctx, "DELETE", "/tokens/"+tk.Hash, nil, nil); err != nil {
				return 0, err
			}
		}
	}
	return len(tokens), nil
}

func printBreakdown(r *breakdownResults) {
	fmt.Printf("issuance breakdown: read creds/<fixed role>, pachd stand-in generation 1, plugin at trace level (means, ms)\n\n")
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	fmt.Printf("%-34s", "phase")
	for _, c := range r.Columns {
		fmt.Printf(" %14s", fmt.Sprintf("%d in flight", c.InFlight))
	}
	fmt.Println()
	line := func(name string, value func(c breakdownColumn) float64) {
		fmt.Printf("%-34s", name)
		for _, c := range r.Columns {
			fmt.Printf(" %14.3f", value(c))
		}
		fmt.Println()
	}
	line("whole request, as the host saw it", func(c breakdownColumn) float64 { return ms(c.MeanTotal) })
	for _, phase := range r.Order {
		p := phase
		if _, inAnswer := r.Columns[0].MeanPhases[p]; !inAnswer {
			continue
		}
		line("  "+strings.TrimSuffix(p, "_ms"), func(c breakdownColumn) float64 { return c.MeanPhases[p] })
	}
	line("  outside issueToken (host, gRPC, routing)", func(c breakdownColumn) float64 {
		rest := ms(c.MeanTotal)
		for _, v := range c.MeanPhases {
			rest -= v
		}
		return rest
	})
	for _, phase := range r.Order {
		p := phase
		if _, after := r.Columns[0].AfterResponse[p]; !after {
			continue
		}
		line("after the answer: "+strings.TrimSuffix(p, "_ms"), func(c breakdownColumn) float64 { return c.AfterResponse[p] })
	}
	line("CPU per issuance: plugin", func(c breakdownColumn) float64 { return ms(c.PluginCPU) })
	line("CPU per issuance: pachd stand-in", func(c breakdownColumn) float64 { return ms(c.StandinCPU) })
	line("CPU per issuance: host and client", func(c breakdownColumn) float64 { return ms(c.HostCPU) })
	line("storage writes per issuance", func(c breakdownColumn) float64 { return c.StorageWrites })
	line("issuances/s", func(c breakdownColumn) float64 { return c.PerSec })
	fmt.Println("\n(phases: issue-token.ts; host_*: system view calls, storage_*: WAL over the broker, pachd_*: calls to the stand-in;")
	fmt.Println(" with many in flight each awaited phase includes the time spent queued behind other requests' work)")
}

// setEnvs sets environment variables for a plugin about to start, and returns what puts them back.
func setEnvs(values map[string]string) func() {
	type previous struct {
		value string
		had   bool
	}
	saved := map[string]previous{}
	for key, value := range values {
		old, had := os.LookupEnv(key)
		saved[key] = previous{old, had}
		os.Setenv(key, value)
	}
	return func() {
		for key, old := range saved {
			if old.had {
				os.Setenv(key, old.value)
			} else {
				os.Unsetenv(key)
			}
		}
	}
}
