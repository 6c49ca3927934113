package conformance

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"google.golang.org/grpc/codes"
)

// TestEngineRotationKilledAfterMint: the plugin is SIGKILLed while pachd holds the call that
// mints the next admin token (pach:root: RestoreAuthToken on 1.x, RotateRootToken on 2.x), and
// pachd applies the call after the process is gone. After the relaunch, one rollback tick must
// leave exactly one pach:root token alive, the configured one, with creds working: on 2.x the
// configuration adopts the new root token (pachd retired the old one), on 1.x the new one is
// revoked (the old one still works). Neither waits for the journal entry to be ten minutes old.
//
// "landing after the tick": the relaunched plugin's first tick comes while pachd still holds the
// call. pachd cannot yet say how the rotation ends, so the entry waits and rotate-root answers
// 503; once the call lands, the next tick settles it.
func TestEngineRotationKilledAfterMint(t *testing.T) {
	for _, landsAfterTick := range []bool{false, true} {
		landsAfterTick := landsAfterTick
		name := "landing-before-the-tick"
		if landsAfterTick {
			name = "landing-after-the-tick"
		}
		t.Run(name, func(t *testing.T) {
			forEachGeneration(t, func(t *testing.T, e *engineEnv) {
				killDuringMint(t, e, landsAfterTick)
			})
		})
	}
}

func killDuringMint(t *testing.T, e *engineEnv, landsAfterTick bool) {
	e.configure(nil)
	oldRoot := e.pachd.RootToken
	mint := map[int]string{1: "RestoreAuthToken", 2: "RotateRootToken"}[e.gen.generation]
	latency := 2 * time.Second
	if landsAfterTick {
		latency = 6 * time.Second
	}
	if err := e.pachd.SetLatency(e.ctx, mint, latency); err != nil {
		t.Fatalf("latency on %s: %v", mint, err)
	}
	m := e.m
	go m.Do(e.ctx, m.NewRequest(logical.UpdateOperation, "config/rotate-root", nil))
	e.waitForWritesInFlight(true, 5*time.Second)
	e.killAndRelaunch()

	// The journal names the new token before pachd sees it: the leak check must know it too.
	newRoot := e.journaledNewAdminToken()
	e.addSecret(newRoot, "the new root token of the interrupted rotation")

	if landsAfterTick {
		r := e.rollback(false)
		expectOK(t, "the tick while pachd still holds the call", r)
		if wal := e.walEntries(); len(wal) != 1 {
			t.Errorf("after a tick while the call may still land: WAL %v, want the rotation's entry kept", wal)
		}
		r = e.write("config/rotate-root", nil)
		if r.Status != 503 {
			t.Errorf("rotate-root while the interrupted rotation may still land: HTTP %d %s, want 503", r.Status, errorText(r))
		} else {
			expectErrorContains(t, "rotate-root while the call may still land", r, "may still reach pachd, until")
		}
	}
	e.waitForWritesInFlight(false, latency+5*time.Second)
	if err := e.pachd.ResetFaults(e.ctx); err != nil {
		t.Fatalf("reset faults: %v", err)
	}
	// The fault this test is about: pachd applied the call after the plugin died.
	if e.gen.generation == 2 {
		e.expectRejected("the old root token once pachd applied RotateRootToken", oldRoot, codes.Unauthenticated)
	} else if roots := e.liveTokensOf("pach:root"); len(roots) != 2 {
		t.Fatalf("after pachd applied the restore: %d pach:root tokens alive, want 2 (the old and the new)", len(roots))
	}
	e.expectWorks("the journaled new root token, installed by pachd", newRoot, "pach:root")

	expectOK(t, "the first tick after the call landed", e.rollback(false))
	kept := oldRoot
	if e.gen.generation == 2 {
		kept = newRoot
	}
	e.expectOneRootToken("one tick after the relaunch", kept)
	if wal := e.walAfterReleases(); len(wal) != 0 {
		t.Errorf("WAL entries left after the tick: %v", wal)
	}
	expectOK(t, "write roles/ci", e.write("roles/ci", map[string]interface{}{"subject": "robot:ci"}))
	creds := e.issue("creds after the tick", e.m.NewRequest(logical.ReadOperation, "creds/ci", nil))
	e.expectWorks("the token creds issued after the tick", creds.token, "robot:ci")

	r := e.write("config/rotate-root", nil)
	if expectOK(t, "rotate-root after the tick", r) {
		if e.gen.generation == 2 {
			info, err := e.pachd.Info(e.ctx)
			if err != nil {
				t.Fatalf("GET /info: %v", err)
			}
			e.addSecret(info.RootToken, "the root token of the rotation after the tick")
		}
		var alive []string
		for _, h := range e.liveTokensOf("pach:root") {
			alive = append(alive, "sha256:"+h[:16])
		}
		if len(alive) != 1 || alive[0] != r.Data()["admin_token_fingerprint"] {
			t.Errorf("after rotate-root: pach:root tokens alive %v, want exactly the configured %v", alive, r.Data()["admin_token_fingerprint"])
		}
	}
	expectOK(t, "revoke the creds lease", e.revoke(creds))
}

// waitForWritesInFlight waits until pachd holds a token write (inFlight) or none.
func (e *engineEnv) waitForWritesInFlight(inFlight bool, within time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		stats, err := e.pachd.Stats(e.ctx)
		if err != nil {
			e.t.Fatalf("GET /stats: %v", err)
		}
		if (stats.Writes.InFlight > 0) == inFlight {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("pachd writes in flight: %d after %v, want in flight %v", stats.Writes.InFlight, within, inFlight)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// journaledNewAdminToken is the new token of the one admin-rotation entry in the WAL.
func (e *engineEnv) journaledNewAdminToken() string {
	e.t.Helper()
	var found []string
	for _, id := range e.walEntries() {
		entry, err := e.m.Storage.Get(e.ctx, "wal/"+id)
		if err != nil || entry == nil {
			e.t.Fatalf("reading wal/%s: %v", id, err)
		}
		var wal struct {
			Kind string `json:"kind"`
			Data struct {
				NewToken string `json:"new_token"`
			} `json:"data"`
		}
		if err := json.Unmarshal(entry.Value, &wal); err != nil {
			e.t.Fatalf("wal/%s: %v", id, err)
		}
		if wal.Kind == "admin-rotation" {
			found = append(found, wal.Data.NewToken)
		}
	}
	if len(found) != 1 || found[0] == "" {
		e.t.Fatalf("admin-rotation entries with a new token: %d, want 1", len(found))
	}
	return found[0]
}

// expectOneRootToken: exactly one pach:root token alive at pachd, `token`, and it is the configured one.
func (e *engineEnv) expectOneRootToken(what, token string) {
	e.t.Helper()
	alive := e.liveTokensOf("pach:root")
	if len(alive) != 1 || alive[0] != hashToken(token) {
		short := make([]string, len(alive))
		for i, h := range alive {
			short[i] = "sha256:" + h[:16]
		}
		e.t.Errorf("%s: pach:root tokens alive %v, want exactly %s", what, short, fingerprint(token))
	}
	if got := e.read("config").Data()["admin_token_fingerprint"]; got != fingerprint(token) {
		e.t.Errorf("%s: configured admin token %v, want %s", what, got, fingerprint(token))
	}
}
