package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"pachyderm-vault-plugin/test/conformance/harness"
)

// Environment:
//
//	PLUGIN_BUILD_DIR        directory with pachyderm and conformance-backend (default ../../build)
//	PACKAGE_JSON            package.json whose version the plugins must report (default ../../package.json)
//	KV_PLUGIN_PATH          HashiCorp's KV plugin (default $PLUGIN_BUILD_DIR/bench-bin/vault-plugin-secrets-kv);
//	                        its tests are skipped when it is absent
//	PACHYDERM_PLUGIN_PATH, CONFORMANCE_BACKEND_PATH  override the two executables
//	CONFORMANCE_BACKEND_IS_GO_REFERENCE=1  the conformance-backend path is testdata/refbackend
//	                        (a Go implementation of the contract): skip the TypeScript-only launch refusals
//	CONFORMANCE_TARGETS     comma list restricting targets: pachyderm,conformance-backend,kv-go
//	CONFORMANCE_ALLOW_MISSING=1  skip (instead of fail) when our executables are missing
//	CONFORMANCE_VERBOSE=1   mirror the host log to stderr

const (
	targetPachyderm   = "pachyderm"
	targetConformance = "conformance-backend"
	targetKV          = "kv-go"
)

// target is one plugin executable the generic tests run against.
type target struct {
	name string
	path string
	// ours: built from this repo (missing file is a failure, not a skip)
	ours bool
	// wantVersion: exact version the plugin must report; "" = any "v…"
	wantVersion string
	// allowNoVersion: an empty reported version is fine (HashiCorp's KV
	// plugin built with go install reports none)
	allowNoVersion bool
	// expectMultiplex: the plugin must answer MultiplexingSupport=true
	expectMultiplex bool
	// directExec: run the cookie / protocol / cert launch tests
	directExec bool
	// mountConfig passed at enable time
	mountConfig map[string]string
	// storage probe: write writePath with writeData, read readPath must
	// return it (used to prove per-mount storage separation)
	writePath string
	writeData map[string]interface{}
	readPath  string
}

func buildDir() string {
	if d := os.Getenv("PLUGIN_BUILD_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "build")
}

func packageVersion(t testing.TB) string {
	p := os.Getenv("PACKAGE_JSON")
	if p == "" {
		p = filepath.Join("..", "..", "package.json")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading %s: %v", p, err)
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatalf("parsing %s: %v", p, err)
	}
	if pkg.Version == "" {
		t.Fatalf("%s has no version", p)
	}
	return "v" + pkg.Version
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func kvPluginPath() string {
	if p := os.Getenv("KV_PLUGIN_PATH"); p != "" {
		return p
	}
	return filepath.Join(buildDir(), "bench-bin", "vault-plugin-secrets-kv")
}

func allTargets(t testing.TB) []target {
	version := packageVersion(t)
	return []target{
		{
			name:            targetPachyderm,
			path:            envOr("PACHYDERM_PLUGIN_PATH", filepath.Join(buildDir(), "pachyderm")),
			ours:            true,
			wantVersion:     version,
			directExec:      true,
			expectMultiplex: false, // not part of the product contract; reported, not required
		},
		{
			name:            targetConformance,
			path:            envOr("CONFORMANCE_BACKEND_PATH", filepath.Join(buildDir(), "conformance-backend")),
			ours:            true,
			wantVersion:     version,
			directExec:      os.Getenv("CONFORMANCE_BACKEND_IS_GO_REFERENCE") != "1",
			expectMultiplex: true,
			writePath:       "kv/probe",
			writeData:       map[string]interface{}{"value": "x"},
			readPath:        "kv/probe",
		},
		{
			name:            targetKV,
			path:            kvPluginPath(),
			allowNoVersion:  true,
			expectMultiplex: true,
			mountConfig:     map[string]string{}, // KV v1 (no version option)
			writePath:       "probe",
			writeData:       map[string]interface{}{"value": "x"},
			readPath:        "probe",
		},
	}
}

func selected(name string) bool {
	sel := os.Getenv("CONFORMANCE_TARGETS")
	if sel == "" {
		return true
	}
	for _, s := range strings.Split(sel, ",") {
		if strings.TrimSpace(s) == name {
			return true
		}
	}
	return false
}

// requireTarget skips or fails when the target's executable is missing.
func requireTarget(t *testing.T, tg target) {
	t.Helper()
	if !selected(tg.name) {
		t.Skipf("target %s not selected by CONFORMANCE_TARGETS", tg.name)
	}
	st, err := os.Stat(tg.path)
	if err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return
	}
	msg := fmt.Sprintf("%s: executable %s not usable (stat err=%v)", tg.name, tg.path, err)
	if tg.ours && os.Getenv("CONFORMANCE_ALLOW_MISSING") != "1" {
		t.Fatalf("%s; build it first (make build)", msg)
	}
	t.Skip(msg)
}

// forEachTarget runs fn as a subtest per available target.
func forEachTarget(t *testing.T, fn func(t *testing.T, tg target)) {
	for _, tg := range allTargets(t) {
		tg := tg
		t.Run(tg.name, func(t *testing.T) {
			requireTarget(t, tg)
			fn(t, tg)
		})
	}
}

// targetByName returns the named target (skipping/failing if unavailable).
func targetByName(t *testing.T, name string) target {
	t.Helper()
	for _, tg := range allTargets(t) {
		if tg.name == name {
			requireTarget(t, tg)
			return tg
		}
	}
	t.Fatalf("unknown target %s", name)
	return target{}
}

// newCatalog gives the test its own host (catalog + captured logger); on
// failure the host log, which contains the plugin's stderr lines, is
// printed; at the end every process still running is killed.
func newCatalog(t *testing.T, level hclog.Level) *harness.Catalog {
	t.Helper()
	opts := harness.Options{LogLevel: level}
	if os.Getenv("CONFORMANCE_VERBOSE") == "1" {
		opts.LogMirror = os.Stderr
	}
	cat := harness.New(opts)
	t.Cleanup(func() {
		cat.KillAll()
		if t.Failed() {
			t.Logf("host log (plugin stderr is re-logged here by go-plugin):\n%s", tail(cat.Log.String(), 12000))
		}
	})
	return cat
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// mustMount enables the target and fails the test with the failing stage.
func mustMount(t *testing.T, cat *harness.Catalog, tg target, opts harness.MountOptions) *harness.Mount {
	t.Helper()
	if opts.Name == "" {
		opts.Name = tg.name
	}
	m, err := cat.MountWith(testCtx(t), tg.path, tg.mountConfig, opts)
	if err != nil {
		t.Fatalf("enabling %s (%s) failed: %v", tg.name, tg.path, err)
	}
	t.Cleanup(func() { m.Cleanup(context.Background()) })
	return m
}

// expectStatus fails unless the result has the wanted HTTP status.
func expectStatus(t *testing.T, what string, r *harness.Result, want int) bool {
	t.Helper()
	if r.Status != want {
		t.Errorf("%s: expected HTTP %d, got %d (err=%v, resp=%s)", what, want, r.Status, r.Err, harness.DescribeResponse(r.Resp))
		return false
	}
	return true
}

// expectOK fails unless the request succeeded without error.
func expectOK(t *testing.T, what string, r *harness.Result) bool {
	t.Helper()
	if r.Err != nil || r.Status >= 300 {
		t.Errorf("%s: expected success, got HTTP %d err=%v resp=%s", what, r.Status, r.Err, harness.DescribeResponse(r.Resp))
		return false
	}
	return true
}
