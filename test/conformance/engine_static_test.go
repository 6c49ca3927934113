package conformance

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"google.golang.org/grpc/codes"

	"pachyderm-vault-plugin/test/conformance/harness"
)

// TestEngineStaticRobots: static-roles/, static-creds/ and rotate-role/
// through Vault's plugin client against build/pachyderm and the pachd
// stand-in, on both pachd generations. A static robot holds its bindings while
// its role exists; static-creds serves its token without a lease and with the
// fields consul-template re-renders on (rotation_period, ttl); rotate-role
// replaces it, keeping the old one for the role's rotation_grace. The plugin
// is killed (SIGKILL) while a rotation's token is journaled and on its way to
// pachd but not yet stored; the rollback revokes it. Throughout, the robot
// has exactly its current token alive at pachd (plus the one it replaced,
// inside its grace), and nothing else.
func TestEngineStaticRobots(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, e *engineEnv) {
		const subject = "robot:loader"
		e.configure(nil)
		if _, err := e.pachd.CreateRepo(e.ctx, "", "images", ""); err != nil {
			t.Fatalf("creating repo images at the stand-in: %v", err)
		}
		binding, held := "repo:default/images=repoReader", map[string][]string{"repo:default/images": {"repoReader"}}
		if e.gen.generation == 1 {
			binding, held = "repo:images=repoReader", map[string][]string{"repo:images": {"READER"}}
		}

		// ---- refused before anything reaches pachd
		for _, c := range []struct {
			what    string
			data    map[string]interface{}
			mention string
		}{
			{"a user subject", map[string]interface{}{"subject": "user:alice@example.com", "rotation_period": "1h"}, "robot:<name>"},
			{"no schedule", map[string]interface{}{"subject": subject}, "rotation_period"},
			{"both period and schedule", map[string]interface{}{"subject": subject, "rotation_period": "1h", "rotation_schedule": "0 3 * * *"}, "mutually exclusive"},
			{"a grace as long as the period", map[string]interface{}{"subject": subject, "rotation_period": "1h", "rotation_grace": "1h"}, "rotation_grace"},
			{"clusterAdmin", map[string]interface{}{"subject": subject, "rotation_period": "1h", "role_bindings": "cluster=clusterAdmin"}, "cannot be given clusterAdmin"},
		} {
			r := e.write("static-roles/loader", c.data)
			expectStatus(t, "write a static role with "+c.what, r, 400)
			expectErrorContains(t, "write a static role with "+c.what, r, c.mention)
		}
		if r := e.read("static-roles/loader"); r.Status != 404 {
			t.Errorf("after the refused writes, read static-roles/loader answered %d, want 404", r.Status)
		}
		e.expectLiveTokens(subject, 0)

		// ---- written, read back, served
		r := e.write("static-roles/loader", map[string]interface{}{"subject": subject, "role_bindings": binding, "rotation_period": "1h"})
		if !expectOK(t, "write static-roles/loader", r) {
			t.FailNow()
		}
		e.expectHolds(subject, held)
		if keys := listKeys(e.do(e.m.NewRequest(logical.ListOperation, "static-roles/", nil))); len(keys) != 1 || keys[0] != "loader" {
			t.Errorf("list static-roles/ = %v, want [loader]", keys)
		}
		first := e.staticCreds("static-creds/loader", "read static-creds/loader")
		e.expectWorks("static-creds/loader", first, subject)
		e.expectStaticTokens("after the write", subject, first)

		// ---- rotate-role without a grace: the old token dies at once
		expectOK(t, "rotate-role/loader", e.write("rotate-role/loader", nil))
		second := e.staticCreds("static-creds/loader", "read static-creds/loader after rotate-role")
		if second == first {
			t.Fatalf("rotate-role left the token as it was")
		}
		e.expectRejected("the token rotate-role replaced", first, codes.OK)
		e.expectWorks("the rotated token", second, subject)
		e.expectStaticTokens("after rotate-role", subject, second)

		// ---- with a grace the replaced token keeps working (changing it rotates)
		expectOK(t, "set rotation_grace", e.write("static-roles/loader", map[string]interface{}{"rotation_grace": "10m"}))
		third := e.staticCreds("static-creds/loader", "read static-creds/loader after the grace was set")
		expectOK(t, "rotate-role/loader inside the grace", e.write("rotate-role/loader", nil))
		fourth := e.staticCreds("static-creds/loader", "read static-creds/loader after the second rotation")
		e.expectWorks("the token replaced inside its grace", third, subject)
		e.expectStaticTokens("inside the grace", subject, fourth, third)
		if wal := e.walEntries(); len(wal) != 0 {
			t.Errorf("WAL entries left after finished rotations: %v", wal)
		}

		// ---- SIGKILL between the journal and the store
		if err := e.pachd.SetLatency(e.ctx, "RestoreAuthToken", 2500*time.Millisecond); err != nil {
			t.Fatalf("latency: %v", err)
		}
		done := make(chan *harness.Result, 1)
		go func(m *harness.Mount) {
			ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
			defer cancel()
			done <- m.Do(ctx, m.NewRequest(logical.UpdateOperation, "rotate-role/loader", nil))
		}(e.m)
		deadline := time.Now().Add(5 * time.Second)
		for len(e.walEntries()) == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if len(e.walEntries()) != 1 {
			t.Fatalf("the rotation journaled nothing within 5s")
		}
		// The bindings are granted again, then RestoreAuthToken is sent and held by pachd.
		time.Sleep(700 * time.Millisecond)
		e.killAndRelaunch()
		<-done
		time.Sleep(2 * time.Second) // pachd's delayed RestoreAuthToken lands: a token nobody stored
		if err := e.pachd.SetLatency(e.ctx, "RestoreAuthToken", 0); err != nil {
			t.Fatalf("latency: %v", err)
		}
		live := e.liveTokensOf(subject)
		if len(live) != 3 {
			t.Fatalf("after the kill pachd holds %d live tokens of %s, want 3 (current, in grace, the orphan)", len(live), subject)
		}
		if rr := e.rollback(true); rr.Err != nil {
			t.Errorf("rollback: %v", rr.Err)
		}
		if wal := e.walEntries(); len(wal) != 0 {
			t.Errorf("WAL entries left after the rollback: %v", wal)
		}
		if got := e.staticCreds("static-creds/loader", "read static-creds/loader after the kill"); got != fourth {
			t.Errorf("the interrupted rotation changed the stored token")
		}
		e.expectStaticTokens("after the kill and the rollback", subject, fourth, third)

		// ---- the grace ends: a timer in the plugin process revokes the replaced
		// token through the mount's storage, outside any request, with no tick
		expectOK(t, "set a 2s rotation_grace", e.write("static-roles/loader", map[string]interface{}{"rotation_grace": "2s"}))
		fifth := e.staticCreds("static-creds/loader", "read static-creds/loader after the short grace was set")
		e.expectRejected("the token whose grace the rotation cut short", third, codes.OK)
		e.expectWorks("the token inside its 2s grace", fourth, subject)
		graceDeadline := time.Now().Add(6 * time.Second)
		for len(e.liveTokensOf(subject)) != 1 && time.Now().Before(graceDeadline) {
			time.Sleep(100 * time.Millisecond)
		}
		e.expectRejected("the token past its 2s grace", fourth, codes.OK)
		e.expectStaticTokens("after the grace ended, without a tick", subject, fifth)
		if r := e.read("static-roles/loader"); expectOK(t, "read static-roles/loader after the grace", r) {
			if n := fmt.Sprint(r.Data()["retiring_tokens"]); n != "0" {
				t.Errorf("the role still records %s retiring tokens after the timer revoked them", n)
			}
		}

		// ---- deleted: every token revoked, every binding removed, the name free again
		expectOK(t, "delete static-roles/loader", e.do(e.m.NewRequest(logical.DeleteOperation, "static-roles/loader", nil)))
		e.expectLiveTokens(subject, 0)
		e.expectHolds(subject, nil)
		if r := e.read("static-creds/loader"); r.Status != 404 {
			t.Errorf("static-creds/loader after the delete answered %d, want 404", r.Status)
		}
		expectOK(t, "write static-roles/loader again", e.write("static-roles/loader", map[string]interface{}{"subject": subject, "rotation_period": "1h"}))
		again := e.staticCreds("static-creds/loader", "read static-creds/loader written again")
		e.expectStaticTokens("written again", subject, again)
		if wal := e.walEntries(); len(wal) != 0 {
			t.Errorf("WAL entries left at the end: %v", wal)
		}
	})
}

// staticCreds reads a static-creds path, checks the answer's shape, and
// returns its token (kept out of the host log by the leak check).
func (e *engineEnv) staticCreds(path, what string) string {
	e.t.Helper()
	r := e.read(path)
	if !expectOK(e.t, what, r) {
		e.t.FailNow()
	}
	if r.Resp.Secret != nil {
		e.t.Errorf("%s: a static token came with a lease", what)
	}
	data := r.Data()
	token, _ := data["token"].(string)
	if token == "" {
		e.t.Fatalf("%s: no token in %s", what, harness.DescribeResponse(r.Resp))
	}
	if _, ok := data["rotation_period"]; !ok {
		e.t.Errorf("%s: no rotation_period: consul-template would not treat it as a rotating secret", what)
	}
	ttl, err := strconv.ParseFloat(fmt.Sprint(data["ttl"]), 64)
	if err != nil || ttl <= 0 || ttl > 3600 {
		e.t.Errorf("%s: ttl %v, want the seconds until the next rotation", what, data["ttl"])
	}
	if address, _ := data["pachd_address"].(string); address != e.pachd.PachdAddress {
		e.t.Errorf("%s: pachd_address %q, want %q", what, address, e.pachd.PachdAddress)
	}
	e.mu.Lock()
	e.issued = append(e.issued, token)
	e.mu.Unlock()
	return token
}

// liveTokensOf is the hashes of subject's unexpired tokens at pachd, sorted.
func (e *engineEnv) liveTokensOf(subject string) []string {
	var out []string
	for hash, tk := range e.tokens() {
		if tk.Subject == subject && !tk.Expired {
			out = append(out, hash)
		}
	}
	sort.Strings(out)
	return out
}

// expectStaticTokens fails unless subject's live tokens at pachd are exactly
// the given ones.
func (e *engineEnv) expectStaticTokens(what, subject string, tokens ...string) {
	e.t.Helper()
	var want []string
	for _, token := range tokens {
		want = append(want, hashToken(token))
	}
	sort.Strings(want)
	got := e.liveTokensOf(subject)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		e.t.Errorf("%s: %s has %d live tokens at pachd, want exactly %d (its current one and any in grace)", what, subject, len(got), len(want))
	}
}

// killAndRelaunch SIGKILLs the plugin process and mounts it again on the same
// storage, as Vault relaunches a plugin that died.
func (e *engineEnv) killAndRelaunch() {
	e.t.Helper()
	old := e.m
	if pid := old.PID(); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		harness.WaitProcessExit(pid, 5*time.Second)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	old.Cleanup(ctx)
	cancel()
	tg := targetByName(e.t, targetPachyderm)
	m, err := e.cat.MountWith(e.ctx, tg.path, tg.mountConfig, harness.MountOptions{
		Name: tg.name, Path: strings.TrimSuffix(old.Path, "/"), Storage: old.Storage, System: old.System,
	})
	if err != nil {
		e.t.Fatalf("relaunching the plugin after the kill: %v", err)
	}
	e.m = m
}
