// Command bench compares our plugin with HashiCorp's KV plugin, both driven
// through the conformance harness (the same Vault client code and launch
// path). It measures cold start, request latency (sequential and with
// concurrent requests in flight), throughput and the plugin's peak RSS, and
// prints ours, Go's and the ratio. It makes no assertions.
//
// Further sections (each on by default, with a flag to skip it): the
// executables (size, SHA-256 time, cold start); token issuance through the
// product plugin against a pachd 1.x stand-in, timed beside the same pachd
// calls made directly from Go (RestoreAuthToken then WhoAmI, what the plugin
// asks pachd for each token), with -concurrency in flight; and issuance
// under contention (1, 16, 64 callers against a 2.x stand-in in contention
// mode, with and without the plugin's bound on token writes in flight).
//
//	go run ./cmd/bench                      # defaults: ../../build/conformance-backend vs build/bench-bin/vault-plugin-secrets-kv, then issuance
//	go run ./cmd/bench -starts 3 -requests 200 -warmup 20   # a short CI run (both sections)
//	go run ./cmd/bench -kv=false            # issuance only
//	go run ./cmd/bench -issuance=false      # the KV comparison only
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"pachyderm-vault-plugin/test/conformance/harness"
	"pachyderm-vault-plugin/test/conformance/standin"
)

type request struct {
	op   logical.Operation
	path string
	data map[string]interface{}
}

// parseRequest reads "<operation> <path> [key=value ...]".
func parseRequest(s string) (request, error) {
	f := strings.Fields(s)
	if len(f) < 2 {
		if len(f) == 1 && f[0] == "help" {
			return request{op: logical.HelpOperation}, nil
		}
		return request{}, fmt.Errorf("request %q: want \"<operation> <path> [key=value ...]\"", s)
	}
	r := request{op: logical.Operation(f[0]), path: f[1]}
	if r.path == `""` || r.path == "/" {
		r.path = ""
	}
	switch r.op {
	case logical.ReadOperation, logical.UpdateOperation, logical.CreateOperation, logical.DeleteOperation,
		logical.ListOperation, logical.HelpOperation, logical.PatchOperation:
	default:
		return request{}, fmt.Errorf("request %q: unknown operation %q", s, r.op)
	}
	for _, kv := range f[2:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return request{}, fmt.Errorf("request %q: %q is not key=value", s, kv)
		}
		if r.data == nil {
			r.data = map[string]interface{}{}
		}
		r.data[k] = v
	}
	return r, nil
}

type subject struct {
	label   string
	path    string
	name    string
	options map[string]string
	setup   []request
	bench   request
}

type results struct {
	ColdStartMedian time.Duration   `json:"cold_start_median_ns"`
	ColdStarts      []time.Duration `json:"cold_starts_ns"`
	SeqP50          time.Duration   `json:"seq_p50_ns"`
	SeqP99          time.Duration   `json:"seq_p99_ns"`
	SeqRPS          float64         `json:"seq_rps"`
	ConcP50         time.Duration   `json:"conc_p50_ns"`
	ConcP99         time.Duration   `json:"conc_p99_ns"`
	ConcRPS         float64         `json:"conc_rps"`
	PeakRSSKB       int64           `json:"peak_rss_kb"`
	// At the end: the part of the resident set that is the executable's and libraries' pages
	// (RssFile) and the part the process allocated (RssAnon).
	RSSFileKB int64  `json:"rss_file_kb_at_end"`
	RSSAnonKB int64  `json:"rss_anon_kb_at_end"`
	Version   string `json:"version"`
}

type config struct {
	starts, requests, concurrency, warmup int
	timeout                               time.Duration
}

func main() {
	buildDir := os.Getenv("PLUGIN_BUILD_DIR")
	if buildDir == "" {
		buildDir = filepath.Join("..", "..", "build")
	}
	var (
		oursPath    = flag.String("ours", filepath.Join(buildDir, "pachyderm"), "our plugin executable")
		oursName    = flag.String("ours-name", "", "catalog name for our plugin (default: file name)")
		oursOptions = flag.String("ours-options", "", "mount options for our plugin, comma-separated k=v")
		oursSetup   = flag.String("ours-setup", "update roles/bench subject=robot:bench", "setup requests for our plugin, ';'-separated")
		oursBench   = flag.String("ours-bench", "list roles/", "the request measured on our plugin (one storage call, like the KV read: roles themselves are read from memory once read)")
		goPath      = flag.String("go", filepath.Join(buildDir, "bench-bin", "vault-plugin-secrets-kv"), "HashiCorp KV plugin executable (go install github.com/hashicorp/vault-plugin-secrets-kv/cmd/vault-plugin-secrets-kv@latest)")
		goSetup     = flag.String("go-setup", "update bench value=x", "setup requests for the KV plugin (mounted as KV v1), ';'-separated")
		goBench     = flag.String("go-bench", "read bench", "the request measured on the KV plugin")
		starts      = flag.Int("starts", 20, "cold starts to take the median of")
		requests    = flag.Int("requests", 2000, "measured requests per mode")
		concurrency = flag.Int("concurrency", 16, "requests in flight in the concurrent mode")
		warmup      = flag.Int("warmup", 200, "unmeasured requests before each mode")
		jsonOut     = flag.String("json", "", "also write the raw results as JSON to this file")
		timeout     = flag.Duration("timeout", 30*time.Minute, "overall time limit")

		kvSection     = flag.Bool("kv", true, "run the comparison with HashiCorp's KV plugin")
		execSection   = flag.Bool("executables", true, "compare executables: size, SHA-256 time, cold start (single executable, script, Go)")
		scriptPath    = flag.String("script", filepath.Join(buildDir, "node", "pachyderm"), "the plugin built as a Node script (executables section)")
		issuance      = flag.Bool("issuance", true, "run the token issuance section (plugin vs the same pachd calls made directly)")
		pachydermPath = flag.String("pachyderm", filepath.Join(buildDir, "pachyderm"), "the product plugin executable (issuance section)")
		standinPath   = flag.String("standin", standin.DefaultScript(), "the pachd stand-in bundle (issuance section)")
		issueRequests = flag.Int("issuance-requests", 0, "measured issuances per side (default: -requests)")
		issueWarmup   = flag.Int("issuance-warmup", -1, "unmeasured issuances per side before measuring (default: -warmup)")
		issueTTL      = flag.Duration("issuance-ttl", 10*time.Minute, "ttl of the issued tokens")
		issueSubject  = flag.String("issuance-subject", "robot:bench", "subject of the issued tokens")
		contention    = flag.Bool("contention", true, "run the issuance-under-contention section (1, 16, 64 callers, with and without the bound)")
		contWindow    = flag.Duration("contention-window", 5*time.Second, "how long each contention cell keeps its callers busy")
		contCallers   = flag.String("contention-callers", "1,16,64", "callers in flight per contention cell, comma-separated (the first is the reference)")
		contBound     = flag.Int("contention-bound", 2, "pachd_max_in_flight for the bounded cells (the engine's default)")
	)
	flag.Parse()

	cfg := config{starts: *starts, requests: *requests, concurrency: *concurrency, warmup: *warmup, timeout: *timeout}
	if cfg.starts < 1 || cfg.requests < 1 || cfg.concurrency < 1 || cfg.warmup < 0 {
		fatalf("-starts, -requests and -concurrency must be at least 1, -warmup at least 0")
	}
	icfg := issuanceConfig{
		requests: *issueRequests, warmup: *issueWarmup, concurrency: cfg.concurrency,
		ttl: *issueTTL, subject: *issueSubject, plugin: *pachydermPath, standin: *standinPath,
	}
	if icfg.requests <= 0 {
		icfg.requests = cfg.requests
	}
	if icfg.warmup < 0 {
		icfg.warmup = cfg.warmup
	}
	if !*kvSection && !*issuance && !*execSection && !*contention && !*robotFlags.enabled && *variantFlags.dir == "" && !*breakdownFlags.enabled {
		fatalf("every section is switched off (-kv=false -issuance=false -executables=false -contention=false)")
	}
	ccfg := contentionConfig{window: *contWindow, bound: *contBound, plugin: *pachydermPath, standin: *standinPath}
	for _, part := range strings.Split(*contCallers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			fatalf("-contention-callers: %q is not a positive number", part)
		}
		ccfg.callers = append(ccfg.callers, n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()

	report := map[string]interface{}{}
	if *kvSection {
		report = runKVComparison(ctx, cfg, *oursPath, *oursName, *oursOptions, *oursSetup, *oursBench, *goPath, *goSetup, *goBench)
	}
	if *execSection {
		if len(report) > 0 {
			fmt.Println()
		}
		results, err := runExecutables(ctx, []executable{
			{label: "single executable (build/pachyderm)", path: *pachydermPath, name: "pachyderm"},
			{label: "Node script (build/node/pachyderm)", path: *scriptPath, name: "pachyderm-script"},
			{label: "Go KV plugin", path: *goPath, name: "kv"},
		}, cfg.starts)
		if err != nil {
			fatalf("executables: %v", err)
		}
		printExecutables(results)
		report["executables"] = results
	}
	if *issuance {
		if len(report) > 0 {
			fmt.Println()
		}
		res, err := runIssuance(ctx, icfg)
		if err != nil {
			fatalf("issuance: %v", err)
		}
		printIssuance(icfg, res)
		report["issuance"] = res
	}
	if *breakdownFlags.enabled { // flags in breakdown.go
		if len(report) > 0 {
			fmt.Println()
		}
		res, err := runBreakdown(ctx, icfg, *breakdownFlags.requests, cfg.concurrency)
		if err != nil {
			fatalf("breakdown: %v", err)
		}
		printBreakdown(res)
		report["breakdown"] = res
	}
	if *contention {
		if len(report) > 0 {
			fmt.Println()
		}
		res, err := runContention(ctx, ccfg)
		if err != nil {
			fatalf("contention: %v", err)
		}
		printContention(res)
		report["contention"] = res
	}
	if *robotFlags.enabled { // flags in robots.go
		if len(report) > 0 {
			fmt.Println()
		}
		res, err := runRobots(ctx, robotsConfigFromFlags(*pachydermPath, *standinPath))
		if err != nil {
			fatalf("robots: %v", err)
		}
		printRobots(res)
		report["robots"] = res
	}
	if *variantFlags.dir != "" { // flags in variants.go
		if len(report) > 0 {
			fmt.Println()
		}
		vcfg := config{starts: *variantFlags.starts, requests: *variantFlags.requests, concurrency: cfg.concurrency,
			warmup: *variantFlags.warmup, timeout: cfg.timeout}
		vicfg := icfg
		vicfg.requests, vicfg.warmup = *variantFlags.issuanceRequests, *variantFlags.warmup
		res, err := runVariants(ctx, *variantFlags.dir, vcfg, vicfg, *goPath, *goSetup, *goBench, *oursSetup, *oursBench)
		if err != nil {
			fatalf("variants: %v", err)
		}
		printVariants(res)
		report["variants"] = res
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(report, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			fatalf("writing %s: %v", *jsonOut, err)
		}
	}
}

// runKVComparison is the original benchmark: our conformance backend against
// HashiCorp's KV plugin.
func runKVComparison(ctx context.Context, cfg config, oursPath, oursName, oursOptions, oursSetup, oursBench, goPath, goSetup, goBench string) map[string]interface{} {
	ours, err := makeSubject("ours", oursPath, oursName, oursOptions, oursSetup, oursBench)
	if err != nil {
		fatalf("%v", err)
	}
	kv, err := makeSubject("go (KV v1)", goPath, "kv", "", goSetup, goBench)
	if err != nil {
		fatalf("%v", err)
	}

	fmt.Fprintf(os.Stderr, "bench: %d cold starts, %d requests sequential and %d with %d in flight (warm-up %d)\n",
		cfg.starts, cfg.requests, cfg.requests, cfg.concurrency, cfg.warmup)
	var res [2]*results
	for i, s := range []*subject{ours, kv} {
		fmt.Fprintf(os.Stderr, "bench: %s: %s\n", s.label, s.path)
		r, err := run(ctx, s, cfg)
		if err != nil {
			fatalf("%s: %v", s.label, err)
		}
		res[i] = r
	}
	printTable(ours, kv, res[0], res[1])
	return map[string]interface{}{
		"ours": map[string]interface{}{"path": ours.path, "bench": oursBench, "results": res[0]},
		"go":   map[string]interface{}{"path": kv.path, "bench": goBench, "results": res[1]},
		"config": map[string]int{
			"starts": cfg.starts, "requests": cfg.requests, "concurrency": cfg.concurrency, "warmup": cfg.warmup,
		},
	}
}

func makeSubject(label, path, name, options, setup, bench string) (*subject, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(abs); err != nil || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("%s: %s is not an executable file (%v)", label, abs, err)
	}
	if name == "" {
		name = filepath.Base(abs)
	}
	s := &subject{label: label, path: abs, name: name, options: map[string]string{}}
	for _, kv := range strings.Split(options, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%s: mount option %q is not k=v", label, kv)
		}
		s.options[k] = v
	}
	for _, r := range strings.Split(setup, ";") {
		if strings.TrimSpace(r) == "" {
			continue
		}
		req, err := parseRequest(r)
		if err != nil {
			return nil, fmt.Errorf("%s setup: %w", label, err)
		}
		s.setup = append(s.setup, req)
	}
	if s.bench, err = parseRequest(bench); err != nil {
		return nil, fmt.Errorf("%s bench: %w", label, err)
	}
	return s, nil
}

func run(ctx context.Context, s *subject, cfg config) (*results, error) {
	// Vault's default log level; the host log is kept in memory only.
	cat := harness.New(harness.Options{LogLevel: hclog.Info})
	defer cat.KillAll()
	res := &results{}

	starts, version, err := coldStarts(ctx, cat, s.path, s.name, s.options, cfg.starts)
	if err != nil {
		return nil, err
	}
	res.ColdStarts, res.Version = starts, version
	res.ColdStartMedian = percentile(res.ColdStarts, 50)

	m, err := cat.MountWith(ctx, s.path, s.options, harness.MountOptions{Name: s.name})
	if err != nil {
		return nil, fmt.Errorf("mount: %w", err)
	}
	defer m.Cleanup(context.Background())
	for _, r := range s.setup {
		res := m.Do(ctx, m.NewRequest(r.op, r.path, copyData(r.data)))
		if res.Err != nil || res.Status >= 400 {
			return nil, fmt.Errorf("setup request %s %s: %s", r.op, r.path, res)
		}
	}
	do := func() (time.Duration, error) {
		req := m.NewRequest(s.bench.op, s.bench.path, copyData(s.bench.data))
		start := time.Now()
		r := m.Do(ctx, req)
		d := time.Since(start)
		if r.Err != nil || r.Status >= 400 {
			return d, fmt.Errorf("bench request %s %s: %s", s.bench.op, s.bench.path, r)
		}
		return d, nil
	}
	if _, err := do(); err != nil {
		return nil, err
	}

	// sequential
	for i := 0; i < cfg.warmup; i++ {
		if _, err := do(); err != nil {
			return nil, err
		}
	}
	lat := make([]time.Duration, 0, cfg.requests)
	start := time.Now()
	for i := 0; i < cfg.requests; i++ {
		d, err := do()
		if err != nil {
			return nil, err
		}
		lat = append(lat, d)
	}
	wall := time.Since(start)
	res.SeqP50, res.SeqP99 = percentile(lat, 50), percentile(lat, 99)
	res.SeqRPS = float64(cfg.requests) / wall.Seconds()

	// concurrent
	if err := concurrent(cfg.warmup, cfg.concurrency, do, nil); err != nil {
		return nil, err
	}
	lat = make([]time.Duration, cfg.requests)
	start = time.Now()
	if err := concurrent(cfg.requests, cfg.concurrency, do, lat); err != nil {
		return nil, err
	}
	wall = time.Since(start)
	res.ConcP50, res.ConcP99 = percentile(lat, 50), percentile(lat, 99)
	res.ConcRPS = float64(cfg.requests) / wall.Seconds()

	if pid := m.PID(); pid > 0 {
		if kb, err := harness.ProcStatusKB(pid, "VmHWM"); err == nil {
			res.PeakRSSKB = kb
		}
		res.RSSFileKB, _ = harness.ProcStatusKB(pid, "RssFile")
		res.RSSAnonKB, _ = harness.ProcStatusKB(pid, "RssAnon")
	}
	return res, nil
}

// coldStarts measures launches as Vault makes them: SHA-256 check of the file, exec,
// handshake line, TLS connection, multiplexing query and Setup answered. One unmeasured
// start first (page cache).
func coldStarts(ctx context.Context, cat *harness.Catalog, path, name string, options map[string]string, n int) ([]time.Duration, string, error) {
	var durations []time.Duration
	version := ""
	for i := -1; i < n; i++ {
		m, err := cat.MountWith(ctx, path, options, harness.MountOptions{Name: name})
		if err != nil {
			return nil, "", fmt.Errorf("cold start %d: %w\nhost log:\n%s", i+1, err, tailString(cat.Log.String(), 4000))
		}
		if i >= 0 {
			durations = append(durations, m.LaunchDuration+m.SetupDuration)
		}
		version = m.RunningVersion
		m.Cleanup(ctx)
	}
	return durations, version, nil
}

// concurrent runs n calls of do with the given number in flight, storing
// latencies into lat when it is not nil.
func concurrent(n, inFlight int, do func() (time.Duration, error), lat []time.Duration) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := 0; w < inFlight; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				d, err := do()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					next.Store(int64(n))
					return
				}
				if lat != nil {
					lat[i] = d
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func copyData(d map[string]interface{}) map[string]interface{} {
	if d == nil {
		return nil
	}
	out := make(map[string]interface{}, len(d))
	for k, v := range d {
		out[k] = v
	}
	return out
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	// nearest-rank
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	return s[rank-1]
}

func printTable(ours, kv *subject, a, b *results) {
	fmt.Printf("ours: %s (%s) bench %q\n", ours.path, orNone(a.Version), describe(ours.bench))
	fmt.Printf("go:   %s (%s) bench %q\n\n", kv.path, orNone(b.Version), describe(kv.bench))
	fmt.Printf("%-24s %12s %12s %9s\n", "metric", "ours", "go", "ours/go")
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	row := func(name string, x, y float64, format string) {
		ratio := "n/a"
		if y != 0 {
			ratio = fmt.Sprintf("%.2f", x/y)
		}
		fmt.Printf("%-24s %12s %12s %9s\n", name, fmt.Sprintf(format, x), fmt.Sprintf(format, y), ratio)
	}
	row("cold start median (ms)", ms(a.ColdStartMedian), ms(b.ColdStartMedian), "%.1f")
	row("sequential p50 (µs)", us(a.SeqP50), us(b.SeqP50), "%.0f")
	row("sequential p99 (µs)", us(a.SeqP99), us(b.SeqP99), "%.0f")
	row("sequential req/s", a.SeqRPS, b.SeqRPS, "%.0f")
	row("concurrent p50 (µs)", us(a.ConcP50), us(b.ConcP50), "%.0f")
	row("concurrent p99 (µs)", us(a.ConcP99), us(b.ConcP99), "%.0f")
	row("concurrent req/s", a.ConcRPS, b.ConcRPS, "%.0f")
	row("peak RSS (MiB)", float64(a.PeakRSSKB)/1024, float64(b.PeakRSSKB)/1024, "%.1f")
	row("  file-backed at end", float64(a.RSSFileKB)/1024, float64(b.RSSFileKB)/1024, "%.1f")
	row("  anonymous at end", float64(a.RSSAnonKB)/1024, float64(b.RSSAnonKB)/1024, "%.1f")
}

func describe(r request) string {
	s := string(r.op) + " " + r.path
	keys := make([]string, 0, len(r.data))
	for k := range r.data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s += fmt.Sprintf(" %s=%v", k, r.data[k])
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "no version reported"
	}
	return s
}

func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

func fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}
