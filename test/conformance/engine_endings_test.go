package conformance

import (
	"net/http"
	"testing"
	"time"

	"pachyderm-vault-plugin/test/conformance/harness"
)

// Plugin reload, seal and step-down all end with the host's Cleanup of the
// mount. An issuance's journal entry is released half a second after its
// answer (the host must have the whole reply first); a Cleanup inside that
// half second must release it too, while the host still serves the mount's
// storage. Left behind, the rollback would revoke, ten minutes later, a
// token whose lease Vault holds.
func TestEngineCleanupSettlesDeliveredAnswers(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, e *engineEnv) {
		e.configure(nil)
		issued := []*lease{e.login("robot:ci", "30m", ""), e.login(e.gen.userSubject, "30m", "")}
		e.m.Cleanup(e.ctx)
		// Whatever the process still had scheduled would have run by now.
		time.Sleep(2 * issuanceReleaseGrace)
		if wal := e.walEntries(); len(wal) != 0 {
			t.Errorf("WAL entries left by answers delivered just before Cleanup: %v (the rollback would revoke "+
				"their tokens under held leases)", wal)
		}
		for _, l := range issued {
			e.expectWorks("a token delivered just before Cleanup", l.token, l.data["subject"].(string))
		}
	})
}

// An answer that reveals a value its mount keeps secret is withheld, never
// rewritten, and what it carried counts as undelivered: its token is revoked
// at pachd, and no journal entry is left. Here the admin token's value is
// also the subject asked for, so the answer would show the admin token.
func TestEngineWithheldAnswerRevokesItsToken(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, e *engineEnv) {
		const value = "robot:ci-withheld-0001"
		roles := []string{"clusterAdmin"}
		if e.gen.generation == 1 {
			roles = []string{"SUPER"}
		}
		var admin CreatedTokenWithValue
		body := map[string]interface{}{"subject": "robot:engine-admin", "token": value, "roles": roles}
		if err := e.pachd.Call(e.ctx, http.MethodPost, "/tokens", body, &admin); err != nil {
			t.Fatalf("creating an admin token with a chosen value: %v", err)
		}
		e.addSecret(value, "the admin token whose value is also a subject")
		e.configure(map[string]interface{}{"admin_token": value})

		r := e.write("login", map[string]interface{}{"username": value})
		if r.Err == nil && (r.Resp == nil || !r.Resp.IsError()) {
			t.Fatalf("login for a subject spelled like the admin token answered %s; it must be withheld",
				harness.DescribeResponse(r.Resp))
		}
		expectErrorContains(t, "the withheld answer", r, "withheld its answer")
		time.Sleep(issuanceReleaseGrace)
		for _, token := range e.tokens() {
			if token.Subject == value && !token.Expired {
				t.Errorf("the token of a withheld answer is alive at pachd (hash %s)", token.Hash)
			}
		}
		if wal := e.walEntries(); len(wal) != 0 {
			t.Errorf("WAL entries left after a withheld answer: %v", wal)
		}
		// The mount itself keeps working.
		e.login("robot:ci", "30m", "")
	})
}

// CreatedTokenWithValue is the control API's answer to POST /tokens.
type CreatedTokenWithValue struct {
	Token   string `json:"token"`
	Hash    string `json:"hash"`
	Subject string `json:"subject"`
}
