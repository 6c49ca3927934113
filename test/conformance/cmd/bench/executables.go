package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/hashicorp/go-hclog"

	"pachyderm-vault-plugin/test/conformance/harness"
)

// The executables section compares what an operator installs: our single executable (Node
// inside), the same plugin as a Node script, and HashiCorp's Go KV plugin. Size, the time to
// SHA-256 the file (Vault hashes it before every start, so it is part of every cold start) and
// cold start (which includes that hash).

type executable struct {
	label string
	path  string
	name  string
}

type executableResult struct {
	Label           string          `json:"label"`
	Path            string          `json:"path"`
	SizeBytes       int64           `json:"size_bytes"`
	SHA256Median    time.Duration   `json:"sha256_median_ns"`
	ColdStarts      []time.Duration `json:"cold_starts_ns"`
	ColdStartMedian time.Duration   `json:"cold_start_median_ns"`
}

func runExecutables(ctx context.Context, list []executable, starts int) ([]*executableResult, error) {
	var out []*executableResult
	for _, e := range list {
		info, err := os.Stat(e.path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.label, err)
		}
		hashTimes := make([]time.Duration, 0, 7)
		for i := 0; i < 7; i++ {
			d, err := timeSHA256(e.path)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.label, err)
			}
			hashTimes = append(hashTimes, d)
		}
		sort.Slice(hashTimes, func(i, j int) bool { return hashTimes[i] < hashTimes[j] })
		cat := harness.New(harness.Options{LogLevel: hclog.Info})
		durations, _, err := coldStarts(ctx, cat, e.path, e.name, nil, starts)
		cat.KillAll()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.label, err)
		}
		out = append(out, &executableResult{
			Label:           e.label,
			Path:            e.path,
			SizeBytes:       info.Size(),
			SHA256Median:    hashTimes[len(hashTimes)/2],
			ColdStarts:      durations,
			ColdStartMedian: percentile(durations, 50),
		})
	}
	return out, nil
}

// timeSHA256 hashes the whole file as Vault's plugin runner does before each start.
func timeSHA256(path string) (time.Duration, error) {
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return 0, err
	}
	_ = h.Sum(nil)
	return time.Since(start), nil
}

func printExecutables(results []*executableResult) {
	fmt.Printf("%-36s %12s %12s %14s\n", "executable", "size (MiB)", "sha256 (ms)", "cold start (ms)")
	for _, r := range results {
		fmt.Printf("%-36s %12.1f %12.1f %14.1f\n", r.Label, float64(r.SizeBytes)/(1<<20),
			float64(r.SHA256Median)/1e6, float64(r.ColdStartMedian)/1e6)
	}
	if len(results) < 2 {
		return
	}
	base := results[len(results)-1] // the Go plugin is listed last
	fmt.Printf("\nratios to %s:\n", base.Label)
	for _, r := range results[:len(results)-1] {
		fmt.Printf("  %-34s size %.2f  sha256 %.2f  cold start %.2f\n", r.Label,
			float64(r.SizeBytes)/float64(base.SizeBytes),
			float64(r.SHA256Median)/float64(base.SHA256Median),
			float64(r.ColdStartMedian)/float64(base.ColdStartMedian))
	}
	if len(results) >= 3 {
		sea, script := results[0], results[1]
		fmt.Printf("  single executable / script: size %.1f, sha256 %.1f, cold start %.2f\n",
			float64(sea.SizeBytes)/float64(script.SizeBytes),
			float64(sea.SHA256Median)/float64(script.SHA256Median),
			float64(sea.ColdStartMedian)/float64(script.ColdStartMedian))
	}
}
