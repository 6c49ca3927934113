package acceptance

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"pachyderm-vault-plugin/test/conformance/harness"
)

// TestAcceptancePluginKilled: the plugin process dies by SIGKILL (no cleanup, no goodbye); the
// server starts a new one for the next request, which must succeed, and the leases issued by the
// dead process renew and revoke through the new one.
func TestAcceptancePluginKilled(t *testing.T) {
	requireAcceptance(t)
	forEachGeneration(t, func(t *testing.T, g generation) {
		s, p := engineOn(t, g)
		c := s.root()
		write(t, c, "pachyderm/roles/ci", map[string]interface{}{"subject": "robot:ci", "ttl": "15m", "max_ttl": "2h"})
		before := leaseOf(t, "creds/ci")(c.Logical().Read("pachyderm/creds/ci"))
		login := leaseOf(t, "login")(c.Logical().Write("pachyderm/login", map[string]interface{}{"username": g.user("alice@example.com")}))

		kill := func(round int) int {
			t.Helper()
			pid := s.pluginPID()
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatalf("kill -9 %d: %v", pid, err)
			}
			if !harness.WaitProcessExit(pid, 10*sec) {
				t.Fatalf("plugin process %d survived SIGKILL", pid)
			}
			// A request that reaches the dead process's connection before the server has seen
			// the process exit fails (500, "connection reset by peer"): the server reloads a
			// plugin and retries only once it knows the process is gone. So wait until it does.
			waitFor(t, "the server noticing the plugin's death", 10*sec, func() (bool, string) {
				return strings.Contains(s.log(), fmt.Sprintf("id=%d error=\"signal: killed\"", pid)), "no log line yet"
			})
			time.Sleep(200 * time.Millisecond)
			t.Logf("round %d: killed plugin process %d", round, pid)
			return pid
		}

		// OpenBao 2.6.2 sometimes fails the first request after a plugin's death with a 500
		// ("Unavailable … connection refused" on the dead process's socket) even after logging
		// the exit; the request after it works. afterKill allows that one failure, says so, and
		// fails the test on anything else.
		afterKill := func(what string, fn func() error) {
			t.Helper()
			err := fn()
			if err == nil {
				return
			}
			if statusOf(err) < 500 {
				t.Fatalf("%s after kill -9: %v", what, err)
			}
			t.Logf("%s: the first request after kill -9 failed, a server limitation; trying once more: %v", what, err)
			time.Sleep(500 * time.Millisecond)
			if err := fn(); err != nil {
				t.Fatalf("%s after kill -9, the second request: %v", what, err)
			}
		}

		// Killed while idle: the next request is a renewal of a lease the dead process issued.
		dead := kill(1)
		afterKill("renew", func() error { _, err := c.Sys().Renew(before.ID, 0); return err })
		p.expectLive("renewed after kill -9", before.Token, "robot:ci")
		if pid := s.pluginPID(); pid == dead {
			t.Fatalf("the server reports the dead process %d", pid)
		}

		// Killed again: the next request issues.
		dead = kill(2)
		var after lease
		afterKill("creds/ci", func() error {
			secret, err := c.Logical().Read("pachyderm/creds/ci")
			if err == nil {
				after = leaseOf(t, "creds/ci after kill -9")(secret, err)
			}
			return err
		})
		p.expectLive("issued after kill -9", after.Token, "robot:ci")
		waitFor(t, "a new plugin process", 10*sec, func() (bool, string) {
			pids := s.pluginPIDs()
			return len(pids) == 1 && pids[0] != dead, fmt.Sprintf("plugin processes %v", pids)
		})

		// Killed a third time: the next requests revoke.
		kill(3)
		for _, l := range []lease{before, login, after} {
			afterKill("revoke", func() error { return c.Sys().Revoke(l.ID) })
			p.expectGone("revoked after kill -9", l.Token)
		}
		p.expectOnlyAdmin("after every lease was revoked", fingerprint(p.RootToken))
	})
}
