package conformance

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"pachyderm-vault-plugin/test/conformance/harness"
)

// Contract tests for build/conformance-backend, a test-only backend built on
// our TypeScript SDK. Each test has its own host and mount.

func backendTarget(t *testing.T) target {
	return targetByName(t, targetConformance)
}

func mountBackend(t *testing.T, cat *harness.Catalog, opts harness.MountOptions, config map[string]string) *harness.Mount {
	t.Helper()
	tg := backendTarget(t)
	if config != nil {
		tg.mountConfig = config
	}
	return mustMount(t, cat, tg, opts)
}

// ---- value helpers (response data arrives as JSON decoded with UseNumber)

func asInt64(v interface{}) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			f, ferr := n.Float64()
			if ferr != nil || f != float64(int64(f)) {
				return 0, false
			}
			return int64(f), true
		}
		return i, true
	case float64:
		if n != float64(int64(n)) {
			return 0, false
		}
		return int64(n), true
	case int:
		return int64(n), true
	case int64:
		return n, true
	}
	return 0, false
}

func expectNumber(t *testing.T, what string, v interface{}, want int64) {
	t.Helper()
	got, ok := asInt64(v)
	if !ok {
		t.Errorf("%s: want the number %d, got %#v (%T)", what, want, v, v)
		return
	}
	if got != want {
		t.Errorf("%s: want %d, got %d", what, want, got)
	}
}

func asStrings(v interface{}) ([]string, bool) {
	switch l := v.(type) {
	case []string:
		return l, true
	case []interface{}:
		out := make([]string, 0, len(l))
		for _, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

func asMap(v interface{}) (map[string]interface{}, bool) {
	m, ok := v.(map[string]interface{})
	return m, ok
}

// normalizeJSON round-trips through JSON so values decoded differently
// (json.Number vs float64, map types) compare equal when their JSON does.
func normalizeJSON(v interface{}) interface{} {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<unmarshalable %T>", v)
	}
	var out interface{}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	_ = dec.Decode(&out)
	return out
}

func jsonEqual(a, b interface{}) bool {
	return reflect.DeepEqual(normalizeJSON(a), normalizeJSON(b))
}

// ---- a. enable, special paths, status

func TestBackendEnableAndStatus(t *testing.T) {
	cat := newCatalog(t, hclog.Debug)
	ctx := testCtx(t)
	m := mountBackend(t, cat, harness.MountOptions{}, map[string]string{"custom_option": "opt-value"})

	want := &logical.Paths{
		Root:            []string{"admin/*"},
		Unauthenticated: []string{"public"},
		LocalStorage:    []string{"local/"},
		SealWrapStorage: []string{"config"},
	}
	got := m.SpecialPaths
	switch {
	case got == nil:
		t.Errorf("SpecialPaths: got none, want %+v", *want)
	default:
		check := func(name string, g, w []string) {
			if !reflect.DeepEqual(append([]string{}, g...), w) {
				t.Errorf("SpecialPaths.%s = %q, want %q", name, g, w)
			}
		}
		check("Root", got.Root, want.Root)
		check("Unauthenticated", got.Unauthenticated, want.Unauthenticated)
		check("LocalStorage", got.LocalStorage, want.LocalStorage)
		check("SealWrapStorage", got.SealWrapStorage, want.SealWrapStorage)
	}

	if m.Guard.Writes.Load() == 0 {
		t.Errorf("Initialize wrote nothing to storage (the contract says it does)")
	}

	r := m.Read(ctx, "status")
	if !expectStatus(t, "read status", r, 200) {
		return
	}
	d := r.Data()
	if d["initialized"] != true {
		t.Errorf("status.initialized = %#v, want true", d["initialized"])
	}
	if d["backend_uuid"] != m.BackendUUID {
		t.Errorf("status.backend_uuid = %#v, want %q (SetupArgs.backendUUID)", d["backend_uuid"], m.BackendUUID)
	}
	sc, ok := asMap(d["setup_config"])
	if !ok {
		t.Fatalf("status.setup_config is %T, want an object", d["setup_config"])
	}
	wantConfig := map[string]interface{}{}
	for k, v := range m.Config {
		wantConfig[k] = v
	}
	if !jsonEqual(sc, wantConfig) {
		t.Errorf("status.setup_config = %v, want the Setup config %v", sc, wantConfig)
	}

	r = m.Read(ctx, "admin/ping")
	if expectStatus(t, "read admin/ping", r, 200) && r.Data()["pong"] != true {
		t.Errorf("admin/ping: pong = %#v, want true", r.Data()["pong"])
	}
}

// ---- b. kv CRUD, existence check, field typing

func TestBackendKVCreateReadUpdateDeleteList(t *testing.T) {
	cat := newCatalog(t, hclog.Debug)
	ctx := testCtx(t)
	m := mountBackend(t, cat, harness.MountOptions{}, nil)

	// first write: the existence check says "no such key" -> create
	w := m.Write(ctx, "kv/dir/item", map[string]interface{}{
		"value":   "v1",
		"count":   "42",
		"enabled": "true",
		"ttl":     "1h30m",
		"tags":    "a,b, c",
		"labels":  map[string]interface{}{"x": "y"},
	})
	expectOK(t, "first write kv/dir/item", w)
	if !w.ExistenceChecked || w.ExistenceErr != nil || !w.CheckFound || w.Exists {
		t.Errorf("existence check on a new key: check_found=%v exists=%v err=%v, want check_found=true exists=false", w.CheckFound, w.Exists, w.ExistenceErr)
	}
	if w.Req.Operation != logical.CreateOperation {
		t.Errorf("first write went to the backend as %q, want create", w.Req.Operation)
	}
	if e, err := m.Storage.Get(ctx, "kv/dir/item"); err != nil || e == nil {
		t.Errorf("storage has no entry kv/dir/item after create (err=%v)", err)
	}

	r := m.Read(ctx, "kv/dir/item")
	if expectStatus(t, "read after create", r, 200) {
		d := r.Data()
		if d["value"] != "v1" {
			t.Errorf("value = %#v, want \"v1\"", d["value"])
		}
		expectNumber(t, "count given as \"42\"", d["count"], 42)
		if d["enabled"] != true {
			t.Errorf("enabled given as \"true\" = %#v, want true", d["enabled"])
		}
		expectNumber(t, "ttl given as \"1h30m\"", d["ttl"], 5400)
		if tags, ok := asStrings(d["tags"]); !ok || !reflect.DeepEqual(tags, []string{"a", "b", "c"}) {
			t.Errorf("tags given as \"a,b, c\" = %#v, want [a b c]", d["tags"])
		}
		if !jsonEqual(d["labels"], map[string]interface{}{"x": "y"}) {
			t.Errorf("labels = %#v, want {x: y}", d["labels"])
		}
		if d["written_by"] != "create" {
			t.Errorf("written_by = %#v, want \"create\" (first write must reach the backend as CreateOperation)", d["written_by"])
		}
	}

	// second write: exists -> update, merged
	w = m.Write(ctx, "kv/dir/item", map[string]interface{}{"value": "v2", "ttl": 90})
	expectOK(t, "second write kv/dir/item", w)
	if !w.CheckFound || !w.Exists {
		t.Errorf("existence check on an existing key: check_found=%v exists=%v err=%v, want both true", w.CheckFound, w.Exists, w.ExistenceErr)
	}
	if w.Req.Operation != logical.UpdateOperation {
		t.Errorf("second write went to the backend as %q, want update", w.Req.Operation)
	}
	r = m.Read(ctx, "kv/dir/item")
	if expectStatus(t, "read after update", r, 200) {
		d := r.Data()
		if d["value"] != "v2" {
			t.Errorf("value after update = %#v, want \"v2\"", d["value"])
		}
		expectNumber(t, "ttl given as 90", d["ttl"], 90)
		expectNumber(t, "count kept by the merge", d["count"], 42)
		if d["written_by"] != "update" {
			t.Errorf("written_by = %#v, want \"update\"", d["written_by"])
		}
	}

	// list
	expectOK(t, "write kv/plain", m.Write(ctx, "kv/plain", map[string]interface{}{"value": "p"}))
	l := m.List(ctx, "kv/")
	if expectStatus(t, "list kv/", l, 200) {
		ks, ok := asStrings(l.Data()["keys"])
		if !ok {
			t.Errorf("list keys = %#v, want a list of strings", l.Data()["keys"])
		} else {
			sort.Strings(ks)
			if !contains(ks, "plain") || !(contains(ks, "dir/") || contains(ks, "dir/item")) {
				t.Errorf("list kv/ keys = %q, want \"plain\" and \"dir/\" (or \"dir/item\")", ks)
			}
		}
	}

	// bad type
	bad := m.Write(ctx, "kv/bad", map[string]interface{}{"count": "abc"})
	expectStatus(t, "count=\"abc\"", bad, 400)

	// delete
	del := m.Delete(ctx, "kv/dir/item")
	expectOK(t, "delete kv/dir/item", del)
	r = m.Read(ctx, "kv/dir/item")
	if r.Resp != nil || r.Status != 404 {
		t.Errorf("read after delete: status %d resp %s, want 404 with no response", r.Status, harness.DescribeResponse(r.Resp))
	}
	if e, _ := m.Storage.Get(ctx, "kv/dir/item"); e != nil {
		t.Errorf("storage still has kv/dir/item after delete")
	}
	r = m.Read(ctx, "kv/never-written")
	if r.Resp != nil || r.Status != 404 {
		t.Errorf("read of a missing key: status %d resp %s, want 404", r.Status, harness.DescribeResponse(r.Resp))
	}
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

// ---- c. secret issue / renew / revoke

func TestBackendSecretLifecycle(t *testing.T) {
	cat := newCatalog(t, hclog.Debug)
	ctx := testCtx(t)
	m := mountBackend(t, cat, harness.MountOptions{}, nil)

	issue := m.Write(ctx, "secret/s1", map[string]interface{}{"ttl": "2h", "max_ttl": "10h"})
	if !expectOK(t, "issue secret/s1", issue) {
		return
	}
	resp := issue.Resp
	if resp == nil || resp.Secret == nil {
		t.Fatalf("issue secret/s1: no secret in response %s", harness.DescribeResponse(resp))
	}
	if resp.Data["name"] != "s1" || resp.Data["value"] != "s3cret-s1" {
		t.Errorf("issue data = %v, want name=s1 value=s3cret-s1", resp.Data)
	}
	if resp.Secret.TTL != 2*time.Hour {
		t.Errorf("secret TTL = %v, want 2h", resp.Secret.TTL)
	}
	if resp.Secret.MaxTTL != 10*time.Hour {
		t.Errorf("secret MaxTTL = %v, want 10h", resp.Secret.MaxTTL)
	}
	if !resp.Secret.Renewable {
		t.Errorf("secret not renewable")
	}
	issued := resp.Secret.InternalData
	for _, k := range []string{"name", "nonce", "issued_at"} {
		if _, ok := issued[k]; !ok {
			t.Errorf("internal_data lacks %q: %v", k, issued)
		}
	}

	if r := m.Read(ctx, "revoked/s1"); r.Status != 404 {
		t.Errorf("revoked/s1 before revoke: status %d, want 404", r.Status)
	}

	// the expiration manager keeps the response data and the secret
	leaseData := resp.Data
	secret := resp.Secret

	// increment 0 on the lease as issued: the TTL falls back to the ttl
	renew0 := m.Renew(ctx, "secret/s1", leaseData, secret, 0)
	if expectOK(t, "renew with increment 0", renew0) {
		if renew0.Resp == nil || renew0.Resp.Secret == nil {
			t.Errorf("renew returned no secret (Vault would keep the old lease unchanged): %s", harness.DescribeResponse(renew0.Resp))
		} else {
			if renew0.Resp.Secret.TTL != 2*time.Hour {
				t.Errorf("renew with no increment: TTL = %v, want the original ttl 2h", renew0.Resp.Secret.TTL)
			}
			if !jsonEqual(renew0.Resp.Secret.InternalData, issued) {
				t.Errorf("renew changed internal_data:\n got  %v\n want %v", renew0.Resp.Secret.InternalData, issued)
			}
			secret = renew0.Resp.Secret
			if renew0.Resp.Data != nil {
				leaseData = renew0.Resp.Data
			}
		}
	}

	renew := m.Renew(ctx, "secret/s1", leaseData, secret, 3*time.Hour)
	if expectOK(t, "renew with increment 3h", renew) {
		if renew.Resp == nil || renew.Resp.Secret == nil {
			t.Errorf("renew returned no secret: %s", harness.DescribeResponse(renew.Resp))
		} else {
			if !jsonEqual(renew.Resp.Secret.InternalData, issued) {
				t.Errorf("renew changed internal_data:\n got  %v\n want %v", renew.Resp.Secret.InternalData, issued)
			}
			if renew.Resp.Secret.TTL != 3*time.Hour {
				t.Errorf("renew TTL = %v, want the increment 3h", renew.Resp.Secret.TTL)
			}
			secret = renew.Resp.Secret
			if renew.Resp.Data != nil {
				leaseData = renew.Resp.Data
			}
		}
	}
	if r := m.Read(ctx, "renewed/s1"); expectStatus(t, "read renewed/s1", r, 200) {
		if !jsonEqual(r.Data()["internal_data"], issued) {
			t.Errorf("renew handler received internal_data %v, want the issued %v", r.Data()["internal_data"], issued)
		}
	}

	revoke := m.Revoke(ctx, "secret/s1", leaseData, secret)
	expectOK(t, "revoke", revoke)
	if r := m.Read(ctx, "revoked/s1"); expectStatus(t, "read revoked/s1", r, 200) {
		if !jsonEqual(r.Data()["internal_data"], issued) {
			t.Errorf("revoke handler received internal_data\n %v\nwant the issued\n %v", r.Data()["internal_data"], issued)
		}
	}
}

func TestBackendSecretLongTTL(t *testing.T) {
	cat := newCatalog(t, hclog.Debug)
	ctx := testCtx(t)
	m := mountBackend(t, cat, harness.MountOptions{}, nil)
	const want = 200 * 24 * time.Hour // 1.728e16 ns > 2^53
	for _, ttl := range []interface{}{"4800h", int64(want / time.Second)} {
		r := m.Write(ctx, "secret/long", map[string]interface{}{"ttl": ttl, "max_ttl": "8760h"})
		if !expectOK(t, fmt.Sprintf("issue with ttl=%v", ttl), r) {
			continue
		}
		if r.Resp == nil || r.Resp.Secret == nil {
			t.Errorf("ttl=%v: no secret in response", ttl)
			continue
		}
		if r.Resp.Secret.TTL != want {
			t.Errorf("ttl=%v: secret TTL = %d ns, want exactly %d ns (200 days)", ttl, int64(r.Resp.Secret.TTL), int64(want))
		}
		if r.Resp.Secret.MaxTTL != 8760*time.Hour {
			t.Errorf("ttl=%v: secret MaxTTL = %d ns, want exactly %d ns (8760h)", ttl, int64(r.Resp.Secret.MaxTTL), int64(8760*time.Hour))
		}
	}
}

// ---- d. large payload (> gRPC's 4 MiB default limits, both directions)

func TestBackendLargePayload(t *testing.T) {
	cat := newCatalog(t, hclog.Debug)
	ctx := testCtx(t)
	m := mountBackend(t, cat, harness.MountOptions{}, nil)

	const size = 6 << 20
	raw := make([]byte, size/2)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	payload := hex.EncodeToString(raw) // 6 MiB of ASCII
	sum := sha256.Sum256([]byte(payload))

	w := m.Write(ctx, "big", map[string]interface{}{"payload": payload})
	if !expectOK(t, "write 6 MiB payload", w) {
		return
	}
	e, err := m.Storage.Get(ctx, "big")
	switch {
	case err != nil || e == nil:
		t.Errorf("storage entry \"big\" missing (err=%v)", err)
	case len(e.Value) < size:
		t.Errorf("storage entry \"big\" is %d bytes, want at least %d", len(e.Value), size)
	}
	r := m.Read(ctx, "big")
	if !expectStatus(t, "read 6 MiB payload", r, 200) {
		return
	}
	d := r.Data()
	expectNumber(t, "length", d["length"], size)
	if d["sha256"] != hex.EncodeToString(sum[:]) {
		t.Errorf("sha256 = %#v, want %s", d["sha256"], hex.EncodeToString(sum[:]))
	}
	got, _ := d["payload"].(string)
	if len(got) != size || got != payload {
		t.Errorf("payload read back differs: %d bytes, want %d identical bytes", len(got), size)
	}
}

// ---- e. rollback runs the periodic hook

func TestBackendRollbackRunsPeriodic(t *testing.T) {
	cat := newCatalog(t, hclog.Debug)
	ctx := testCtx(t)
	m := mountBackend(t, cat, harness.MountOptions{}, nil)

	before := m.Read(ctx, "periodic")
	if !expectStatus(t, "read periodic", before, 200) {
		return
	}
	n0, ok := asInt64(before.Data()["runs"])
	if !ok {
		t.Fatalf("periodic.runs = %#v, want a number", before.Data()["runs"])
	}
	rb := m.Rollback(ctx)
	if rb.Err != nil {
		t.Errorf("rollback returned an error: %v", rb.Err)
	}
	after := m.Read(ctx, "periodic")
	if expectStatus(t, "read periodic after rollback", after, 200) {
		expectNumber(t, "periodic.runs after one rollback", after.Data()["runs"], n0+1)
	}
}

// ---- f. OpenAPI paths

func TestBackendOpenAPIPaths(t *testing.T) {
	cat := newCatalog(t, hclog.Debug)
	m := mountBackend(t, cat, harness.MountOptions{}, nil)
	r := m.Help(testCtx(t), "")
	if !expectOK(t, "help on root path", r) || r.Resp == nil {
		t.Fatalf("help on root path: no response")
	}
	doc, ok := asMap(r.Data()["openapi"])
	if !ok {
		t.Fatalf("help data has no openapi object (%T)", r.Data()["openapi"])
	}
	paths, ok := asMap(doc["paths"])
	if !ok {
		t.Fatalf("openapi.paths is %T, want an object", doc["paths"])
	}
	for _, p := range []string{"/kv/{key}", "/secret/{name}", "/big", "/periodic"} {
		if _, ok := paths[p]; !ok {
			var have []string
			for k := range paths {
				have = append(have, k)
			}
			sort.Strings(have)
			t.Errorf("openapi.paths lacks %q; has %q", p, have)
		}
	}
}

// ---- g. multiplexing: one process, separate storage, independent cleanup

func TestBackendMultiplexing(t *testing.T) {
	cat := newCatalog(t, hclog.Debug)
	ctx := testCtx(t)
	m1 := mountBackend(t, cat, harness.MountOptions{}, nil)
	m2 := mountBackend(t, cat, harness.MountOptions{}, nil)

	if !m1.Client.Multiplexed {
		t.Fatalf("MultiplexingSupport: plugin answered false/unimplemented, want true")
	}
	if m1.PID() != m2.PID() || m2.Client.Spawned {
		t.Fatalf("two mounts served by processes %d and %d (second spawned=%v), want one shared process", m1.PID(), m2.PID(), m2.Client.Spawned)
	}

	// each multiplex_id reaches its own backend instance
	for i, m := range []*harness.Mount{m1, m2} {
		r := m.Read(ctx, "status")
		if expectStatus(t, fmt.Sprintf("status on mount %d", i+1), r, 200) && r.Data()["backend_uuid"] != m.BackendUUID {
			t.Errorf("mount %d: status.backend_uuid = %#v, want %s (requests routed to the wrong instance)", i+1, r.Data()["backend_uuid"], m.BackendUUID)
		}
	}

	expectOK(t, "write kv/a on mount 1", m1.Write(ctx, "kv/a", map[string]interface{}{"value": "one"}))
	if r := m2.Read(ctx, "kv/a"); r.Resp != nil || r.Status != 404 {
		t.Errorf("mount 2 read kv/a written on mount 1: status %d resp %s, want 404 (separate storage)", r.Status, harness.DescribeResponse(r.Resp))
	}
	if e, _ := m2.Storage.Get(ctx, "kv/a"); e != nil {
		t.Errorf("mount 1's write landed in mount 2's storage")
	}
	if r := m1.Read(ctx, "kv/a"); expectStatus(t, "mount 1 read kv/a", r, 200) && r.Data()["value"] != "one" {
		t.Errorf("mount 1 kv/a value = %#v, want \"one\"", r.Data()["value"])
	}

	pid := m1.PID()
	// cleanup of mount 2 leaves mount 1 working
	m2.Cleanup(ctx)
	if !harness.ProcessAlive(pid) {
		t.Fatalf("cleanup of mount 2 killed the shared process")
	}
	if r := m1.Read(ctx, "kv/a"); expectStatus(t, "mount 1 read kv/a after mount 2 cleanup", r, 200) && r.Data()["value"] != "one" {
		t.Errorf("mount 1 kv/a after mount 2 cleanup = %#v", r.Data()["value"])
	}
	expectOK(t, "mount 1 write after mount 2 cleanup", m1.Write(ctx, "kv/b", map[string]interface{}{"value": "b"}))

	// a third mount joins the process; cleanup of mount 1 leaves it working
	m3 := mountBackend(t, cat, harness.MountOptions{}, nil)
	if m3.PID() != pid {
		t.Errorf("third mount started a new process %d (shared one is %d)", m3.PID(), pid)
	}
	m1.Cleanup(ctx)
	if !harness.ProcessAlive(pid) {
		t.Fatalf("cleanup of mount 1 killed the shared process")
	}
	expectOK(t, "mount 3 write after mount 1 cleanup", m3.Write(ctx, "kv/c", map[string]interface{}{"value": "c"}))
	if r := m3.Read(ctx, "kv/c"); expectStatus(t, "mount 3 read after mount 1 cleanup", r, 200) && r.Data()["value"] != "c" {
		t.Errorf("mount 3 kv/c = %#v", r.Data()["value"])
	}
	if r := m3.Read(ctx, "kv/a"); r.Status != 404 {
		t.Errorf("mount 3 sees kv/a of mount 1: status %d", r.Status)
	}
	checkGracefulUnmount(t, cat, m3)
}

// ---- h. shutdown after traffic

func TestBackendShutdownAfterTraffic(t *testing.T) {
	cat := newCatalog(t, hclog.Debug)
	ctx := testCtx(t)
	m := mountBackend(t, cat, harness.MountOptions{}, nil)
	expectOK(t, "write", m.Write(ctx, "kv/x", map[string]interface{}{"value": "x"}))
	expectStatus(t, "read", m.Read(ctx, "kv/x"), 200)
	checkGracefulUnmount(t, cat, m)
}

// ---- i. plugin log lines reach the host logger at their level

func uniqueMessage(tag string) string {
	id, _ := harness.RandomBase62(8)
	return "conformance-" + tag + "-" + id
}

func TestBackendLogLevels(t *testing.T) {
	// Each line must arrive at the host at its own level. (go-plugin copies
	// the plugin's JSON keys, @module included, onto the host entry, so the
	// host-side logger name is not checked.)
	checkLevels := func(t *testing.T, levels ...string) {
		cat := newCatalog(t, hclog.Trace)
		ctx := testCtx(t)
		m := mountBackend(t, cat, harness.MountOptions{}, nil)
		for _, level := range levels {
			msg := uniqueMessage(level)
			w := m.Write(ctx, "log", map[string]interface{}{"level": level, "message": msg})
			if !expectOK(t, "log at "+level, w) {
				continue
			}
			if _, ok := cat.Log.WaitFor(msg, level, 3*time.Second); !ok {
				t.Errorf("log level=%s: host (at trace level) got no entry %q at level %s; entries with that message: %v", level, msg, level, describeEntries(cat.Log.Find(msg, "")))
			}
		}
	}
	t.Run("host-at-trace", func(t *testing.T) {
		checkLevels(t, "error", "warn", "info", "debug")
	})
	// A Go SDK plugin logs at trace and lets the host filter; a plugin that
	// drops trace lines itself hides them from a Vault running at trace.
	t.Run("trace-line-at-host-trace", func(t *testing.T) {
		checkLevels(t, "trace")
	})
	t.Run("host-at-info", func(t *testing.T) {
		cat := newCatalog(t, hclog.Info)
		ctx := testCtx(t)
		m := mountBackend(t, cat, harness.MountOptions{}, nil)
		var hidden []string
		for _, level := range []string{"debug", "trace"} {
			msg := uniqueMessage(level)
			hidden = append(hidden, msg)
			expectOK(t, "log at "+level, m.Write(ctx, "log", map[string]interface{}{"level": level, "message": msg}))
		}
		for _, level := range []string{"info", "warn", "error"} {
			msg := uniqueMessage(level)
			expectOK(t, "log at "+level, m.Write(ctx, "log", map[string]interface{}{"level": level, "message": msg}))
			if _, ok := cat.Log.WaitFor(msg, level, 3*time.Second); !ok {
				t.Errorf("log level=%s: no host log entry %q at level %s (found: %v)", level, msg, level, describeEntries(cat.Log.Find(msg, "")))
			}
		}
		// stderr is ordered: the error line arrived, so the earlier lines did too
		for _, msg := range hidden {
			if found := cat.Log.Find(msg, ""); len(found) > 0 {
				t.Errorf("host at info level logged %q: %v (debug/trace must be filtered)", msg, describeEntries(found))
			}
		}
	})
	t.Run("admin-token-redacted", func(t *testing.T) {
		cat := newCatalog(t, hclog.Trace)
		ctx := testCtx(t)
		m := mountBackend(t, cat, harness.MountOptions{}, nil)
		const secret = "SECRET-VALUE-123"
		msg := uniqueMessage("redact")
		expectOK(t, "log with admin_token", m.Write(ctx, "log", map[string]interface{}{"level": "warn", "message": msg, "admin_token": secret}))
		if _, ok := cat.Log.WaitFor(msg, "warn", 3*time.Second); !ok {
			t.Errorf("no warn entry %q in the host log", msg)
		}
		if cat.Log.Contains(secret) {
			var lines []string
			for _, line := range strings.Split(cat.Log.String(), "\n") {
				if strings.Contains(line, secret) {
					lines = append(lines, line)
				}
			}
			t.Errorf("the admin token reached the host log:\n%s", strings.Join(lines, "\n"))
		}
	})
}

func describeEntries(es []harness.LogEntry) string {
	if len(es) == 0 {
		return "none"
	}
	var parts []string
	for _, e := range es {
		parts = append(parts, e.Raw)
	}
	return strings.Join(parts, " | ")
}

// ---- j. error mapping

func TestBackendErrorMapping(t *testing.T) {
	cat := newCatalog(t, hclog.Debug)
	ctx := testCtx(t)
	m := mountBackend(t, cat, harness.MountOptions{}, nil)

	for _, c := range []struct {
		path string
		want int
	}{
		{"errors/bad_request", 400},
		{"errors/coded", 418},
		{"errors/permission", 403},
		{"errors/internal", 500},
	} {
		r := m.Read(ctx, c.path)
		if r.Err == nil && (r.Resp == nil || !r.Resp.IsError()) {
			t.Errorf("read %s: no error returned (status %d, resp %s)", c.path, r.Status, harness.DescribeResponse(r.Resp))
			continue
		}
		expectStatus(t, "read "+c.path, r, c.want)
	}
	if r := m.Read(ctx, "errors/permission"); r.Err != nil && !errors.Is(r.Err, logical.ErrPermissionDenied) {
		t.Errorf("errors/permission: error %v is not logical.ErrPermissionDenied", r.Err)
	}

	r := m.Read(ctx, "nope/x")
	expectStatus(t, "read unsupported path nope/x", r, 404)
	if !errors.Is(r.Err, logical.ErrUnsupportedPath) {
		t.Errorf("read nope/x: error %v (%T), want logical.ErrUnsupportedPath", r.Err, r.Err)
	}

	r = m.Delete(ctx, "periodic")
	expectStatus(t, "delete on periodic (no delete operation)", r, 405)
	if !errors.Is(r.Err, logical.ErrUnsupportedOperation) {
		t.Errorf("delete periodic: error %v (%T), want logical.ErrUnsupportedOperation", r.Err, r.Err)
	}
}

// ---- k. system view over the broker

func TestBackendSystemView(t *testing.T) {
	cat := newCatalog(t, hclog.Debug)
	ctx := testCtx(t)
	sys := harness.NewSystemView()
	sys.DefaultLeaseTTLVal = 2 * time.Hour
	sys.MaxLeaseTTLVal = 48 * time.Hour
	sys.LocalMountVal = true
	sys.EntityVal = &logical.Entity{ID: "entity-1234", Name: "alice-entity"}
	m := mountBackend(t, cat, harness.MountOptions{System: sys}, nil)

	r := m.Read(ctx, "sys")
	if expectStatus(t, "read sys", r, 200) {
		d := r.Data()
		expectNumber(t, "sys.default_lease_ttl", d["default_lease_ttl"], 7200)
		expectNumber(t, "sys.max_lease_ttl", d["max_lease_ttl"], 172800)
		if d["local_mount"] != true {
			t.Errorf("sys.local_mount = %#v, want true", d["local_mount"])
		}
		if d["tainted"] != false {
			t.Errorf("sys.tainted = %#v, want false", d["tainted"])
		}
	}

	req := m.NewRequest(logical.ReadOperation, "whoami", nil)
	req.EntityID = "entity-1234"
	w := m.Do(ctx, req)
	if expectStatus(t, "read whoami", w, 200) {
		if w.Data()["entity_name"] != "alice-entity" {
			t.Errorf("whoami.entity_name = %#v, want \"alice-entity\"", w.Data()["entity_name"])
		}
		if w.Data()["entity_id"] != "entity-1234" {
			t.Errorf("whoami.entity_id = %#v, want \"entity-1234\"", w.Data()["entity_id"])
		}
	}
}
