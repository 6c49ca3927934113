package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// Issuances that start while another's journal entry is being written share
// the next WAL record (kind pachd-tokens, one member per issuance), each
// journaled before pachd sees its token. The plugin is SIGKILLed while pachd
// holds every member's RestoreAuthToken, which pachd then applies to nobody:
// the rollback of the relaunched plugin must revoke every member's token.
func TestEngineKilledWithASharedJournalRecord(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, e *engineEnv) {
		e.configure(map[string]interface{}{"request_timeout": "10s", "pachd_max_in_flight": 0})
		held := e.login("robot:held", "30m", "")
		if err := e.pachd.SetLatency(e.ctx, "RestoreAuthToken", 2500*time.Millisecond); err != nil {
			t.Fatalf("latency: %v", err)
		}
		const n = 16
		var wg sync.WaitGroup
		m := e.m
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(e.ctx, 15*time.Second)
				defer cancel()
				data := map[string]interface{}{"username": fmt.Sprintf("robot:shared-%d", i), "ttl": "10m"}
				m.Do(ctx, m.NewRequest(logical.UpdateOperation, "login", data))
			}(i)
		}
		var members, largest int
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if members, largest = e.journaledIssuances(); members == n {
				break
			}
		}
		if members != n {
			t.Fatalf("the WAL journals %d of %d issuances within 5s", members, n)
		}
		if largest < 2 {
			t.Fatalf("no WAL record holds more than one of %d concurrent issuances", n)
		}
		t.Logf("%d issuances journaled, the largest record holding %d", members, largest)
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			stats, err := e.pachd.Stats(e.ctx)
			if err != nil {
				t.Fatalf("GET /stats: %v", err)
			}
			if stats.Writes.InFlight >= n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pachd holds %d token writes, want all %d restores", stats.Writes.InFlight, n)
			}
		}
		e.killAndRelaunch()
		wg.Wait()
		time.Sleep(3 * time.Second) // pachd applies the held restores: tokens nobody received
		if err := e.pachd.SetLatency(e.ctx, "RestoreAuthToken", 0); err != nil {
			t.Fatalf("latency: %v", err)
		}
		orphans := 0
		for _, tk := range e.tokens() {
			if strings.HasPrefix(tk.Subject, "robot:shared-") && !tk.Expired {
				orphans++
			}
		}
		if orphans != n {
			t.Fatalf("pachd holds %d live tokens of the interrupted issuances, want %d", orphans, n)
		}
		if rr := e.rollback(true); rr.Err != nil {
			t.Errorf("rollback: %v", rr.Err)
		}
		if wal := e.walEntries(); len(wal) != 0 {
			t.Errorf("WAL entries left after the rollback: %v", wal)
		}
		e.expectOnlyTokens("after the kill and the rollback", held.token)
	})
}

// journaledIssuances counts the issuances the WAL journals (entries of their
// own and members of shared records) and the size of the largest record.
func (e *engineEnv) journaledIssuances() (members, largest int) {
	e.t.Helper()
	for _, key := range e.walEntries() {
		entry, err := e.m.Storage.Get(e.ctx, "wal/"+key)
		if err != nil || entry == nil {
			continue
		}
		var wal struct {
			Kind string `json:"kind"`
			Data struct {
				Members []json.RawMessage `json:"members"`
			} `json:"data"`
		}
		if err := json.Unmarshal(entry.Value, &wal); err != nil {
			e.t.Fatalf("wal/%s: %v", key, err)
		}
		switch wal.Kind {
		case "pachd-token":
			members++
			largest = max(largest, 1)
		case "pachd-tokens":
			members += len(wal.Data.Members)
			largest = max(largest, len(wal.Data.Members))
		}
	}
	return members, largest
}
