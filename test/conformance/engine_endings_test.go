package conformance

import (
	"testing"
	"time"
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
