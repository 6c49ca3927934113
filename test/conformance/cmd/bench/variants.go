package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The V8 options section: the same bundle and Node runtime as build/pachyderm, each built
// with another execArgv (and a code cache made under it) into build/bench-variants/<name>/
// (`node scripts/build.mjs bench-variants`), measured one after the other against one
// measurement of the KV plugin and, for issuance, against the direct pachd calls made in
// the same variant's run. One short run per variant: a table to choose from, not a verdict.

var variantFlags = struct {
	dir              *string
	starts, requests *int
	warmup           *int
	issuanceRequests *int
}{
	dir:              flag.String("variants", "", "directory of V8 option variants (build/bench-variants); empty: skip the section"),
	starts:           flag.Int("variants-starts", 5, "cold starts per variant"),
	requests:         flag.Int("variants-requests", 500, "measured reads per mode per variant"),
	warmup:           flag.Int("variants-warmup", 100, "unmeasured requests before each mode, per variant"),
	issuanceRequests: flag.Int("variants-issuance-requests", 300, "measured issuances per side per variant"),
}

type variantResult struct {
	Name     string           `json:"name"`
	ExecArgv []string         `json:"exec_argv"`
	KV       *results         `json:"kv"`
	Issuance *issuanceResults `json:"issuance"`
}

type variantsReport struct {
	GoKV     *results        `json:"go_kv"`
	Variants []variantResult `json:"variants"`
}

func runVariants(ctx context.Context, dir string, cfg config, icfg issuanceConfig, goPath, goSetup, goBench, oursSetup, oursBench string) (*variantsReport, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%v (make them with `node scripts/build.mjs bench-variants`)", err)
	}
	var names []string
	for _, e := range entries {
		if st, err := os.Stat(filepath.Join(dir, e.Name(), "pachyderm")); err == nil && st.Mode()&0o111 != 0 {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no variant in %s (make them with `node scripts/build.mjs bench-variants`)", dir)
	}
	sort.Strings(names)

	kv, err := makeSubject("go (KV v1)", goPath, "kv", "", goSetup, goBench)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "bench: variants: %s once, then %d variants\n", kv.label, len(names))
	report := &variantsReport{}
	if report.GoKV, err = run(ctx, kv, cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", kv.label, err)
	}
	for _, name := range names {
		path := filepath.Join(dir, name, "pachyderm")
		v := variantResult{Name: name}
		if b, err := os.ReadFile(filepath.Join(dir, name, "exec-argv.json")); err == nil {
			_ = json.Unmarshal(b, &v.ExecArgv)
		}
		fmt.Fprintf(os.Stderr, "bench: variants: %s %v\n", name, v.ExecArgv)
		ours, err := makeSubject(name, path, "pachyderm-"+name, "", oursSetup, oursBench)
		if err != nil {
			return nil, err
		}
		if v.KV, err = run(ctx, ours, cfg); err != nil {
			return nil, fmt.Errorf("variant %s: %w", name, err)
		}
		ic := icfg
		ic.plugin = path
		if v.Issuance, err = runIssuance(ctx, ic); err != nil {
			return nil, fmt.Errorf("variant %s: issuance: %w", name, err)
		}
		report.Variants = append(report.Variants, v)
	}
	return report, nil
}

func printVariants(r *variantsReport) {
	fmt.Printf("V8 options (build/bench-variants; ratios against the KV plugin measured once, issuance against the direct pachd calls of the same run)\n\n")
	fmt.Printf("%-28s %9s %8s %8s %9s %10s %9s %9s %9s\n",
		"variant", "conc r/s", "seq p50", "seq p99", "issuance", "creds p50", "creds/", "RSS", "cold")
	fmt.Printf("%-28s %9s %8s %8s %9s %10s %9s %9s %9s\n",
		"", "/Go", "/Go", "/Go", "/direct", "(ms)", "direct", "/Go", "/Go")
	g := r.GoKV
	ratio := func(x, y float64) string {
		if y == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", x/y)
	}
	for _, v := range r.Variants {
		k, i := v.KV, v.Issuance
		fmt.Printf("%-28s %9s %8s %8s %9s %10.2f %9s %9s %9s\n", v.Name,
			ratio(k.ConcRPS, g.ConcRPS),
			ratio(float64(k.SeqP50), float64(g.SeqP50)),
			ratio(float64(k.SeqP99), float64(g.SeqP99)),
			ratio(i.Plugin.PerSec, i.Direct.PerSec),
			float64(i.CredsOne.P50)/float64(time.Millisecond),
			ratio(float64(i.CredsOne.P50), float64(i.DirectOne.P50)),
			ratio(float64(k.PeakRSSKB), float64(g.PeakRSSKB)),
			ratio(float64(k.ColdStartMedian), float64(g.ColdStartMedian)))
	}
	fmt.Printf("\nGo KV: concurrent %.0f req/s, sequential p50 %.0f µs, p99 %.0f µs, peak RSS %.1f MiB, cold start %.1f ms\n",
		g.ConcRPS, float64(g.SeqP50)/1e3, float64(g.SeqP99)/1e3, float64(g.PeakRSSKB)/1024, float64(g.ColdStartMedian)/1e6)
	fmt.Println("execArgv, and the read process's resident set at its end (file-backed + anonymous MiB):")
	for _, v := range r.Variants {
		fmt.Printf("  %-28s %-60s %5.1f + %5.1f\n", v.Name, strings.Join(v.ExecArgv, " "),
			float64(v.KV.RSSFileKB)/1024, float64(v.KV.RSSAnonKB)/1024)
	}
	fmt.Println("(peak RSS is the variant's read process, after cold starts, sequential and concurrent reads; targets: conc ≥ 0.8, seq ≤ 1.2, issuance ≥ 0.3, creds/direct ≤ 2, RSS ≤ 4, cold ≤ 3.5)")
}
