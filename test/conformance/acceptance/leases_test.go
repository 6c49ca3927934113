package acceptance

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"
)

// engineOn starts a stand-in playing g and a server with the engine mounted (scripts/register)
// and configured for it.
func engineOn(t *testing.T, g generation) (*server, *pachd) {
	t.Helper()
	p := startPachd(t, g, false)
	s := startServer(t)
	s.mountEngine()
	s.configure(p)
	return s, p
}

func write(t *testing.T, c *api.Client, path string, data map[string]interface{}) *api.Secret {
	t.Helper()
	secret, err := c.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return secret
}

// TestAcceptanceLeases: login, login/<subject> and a role's creds, renewed (1.x extends the
// token at pachd, 2.x only the lease), revoked by lease and by value, and a lease left to expire
// whose token the server's expiration manager has the engine revoke at pachd.
func TestAcceptanceLeases(t *testing.T) {
	requireAcceptance(t)
	forEachGeneration(t, func(t *testing.T, g generation) {
		s, p := engineOn(t, g)
		c := s.root()

		// Issued first, checked last: a lease of 3 seconds on a token pachd would keep for an hour
		// (2.x; on 1.x, ten seconds: the engine's floor).
		write(t, c, "pachyderm/roles/brief", map[string]interface{}{"subject": "robot:brief", "ttl": "3s", "max_ttl": "1h"})
		brief := leaseOf(t, "creds/brief")(c.Logical().Read("pachyderm/creds/brief"))
		p.expectLive("creds/brief", brief.Token, "robot:brief")

		alice := g.user("alice@example.com")
		login := leaseOf(t, "login")(c.Logical().Write("pachyderm/login", map[string]interface{}{"username": alice, "ttl": "10m"}))
		p.expectLive("login", login.Token, alice)
		if login.Subject != alice {
			t.Errorf("login answered subject %q, want %q", login.Subject, alice)
		}
		before := p.rows()[hashToken(login.Token)]
		renewed, err := c.Sys().Renew(login.ID, 1200)
		if err != nil {
			t.Fatalf("renewing the login lease: %v", err)
		}
		if renewed.LeaseDuration != 1200 {
			t.Errorf("renewed for %ds, want 1200", renewed.LeaseDuration)
		}
		after := p.rows()[hashToken(login.Token)]
		if before.ExpiresAtMs == nil || after.ExpiresAtMs == nil {
			t.Fatalf("pachd holds the login token without an expiry: %+v", after)
		}
		moved := *after.ExpiresAtMs - *before.ExpiresAtMs
		if g.number == 1 && moved < 500_000 {
			t.Errorf("1.x: renewing by 20m moved the token's pachd expiry by %dms, want about 10 minutes more", moved)
		}
		if g.number == 2 && moved != 0 {
			t.Errorf("2.x: renewing moved the token's pachd expiry by %dms; it is cut at max_ttl once", moved)
		}

		deploy := leaseOf(t, "login/robot:deploy")(c.Logical().Write("pachyderm/login/robot:deploy", map[string]interface{}{"ttl": "5m"}))
		p.expectLive("login/robot:deploy", deploy.Token, "robot:deploy")

		write(t, c, "pachyderm/roles/ci", map[string]interface{}{"subject": "robot:ci", "ttl": "15m", "max_ttl": "2h"})
		ci := leaseOf(t, "creds/ci")(c.Logical().Read("pachyderm/creds/ci"))
		p.expectLive("creds/ci", ci.Token, "robot:ci")
		lookup, err := c.Sys().Lookup(ci.ID)
		if err != nil {
			t.Fatalf("looking up the creds/ci lease: %v", err)
		}
		ttlNumber, _ := lookup.Data["ttl"].(json.Number)
		if ttl, err := ttlNumber.Int64(); err != nil || ttl < 880 || ttl > 900 {
			t.Errorf("the creds/ci lease has ttl %v, want about 900s", lookup.Data["ttl"])
		}
		if renew, err := c.Sys().Renew(ci.ID, 0); err != nil || renew.LeaseDuration != 900 {
			t.Errorf("renewing creds/ci without an increment: %v, %+v; want 900s", err, renew)
		}

		// Revoked by lease (the API's revoke is synchronous) and by value.
		if err := c.Sys().Revoke(login.ID); err != nil {
			t.Fatalf("revoking the login lease: %v", err)
		}
		p.expectGone("lease revoke", login.Token)
		write(t, c, "pachyderm/revoke", map[string]interface{}{"user_token": deploy.Token})
		p.expectGone("write pachyderm/revoke", deploy.Token)
		if _, err := c.Sys().Renew(deploy.ID, 0); err == nil {
			t.Errorf("a lease whose token was revoked by value still renews")
		}
		if err := c.Sys().Revoke(deploy.ID); err != nil {
			t.Errorf("revoking a lease whose token is gone already: %v", err)
		}
		if err := c.Sys().Revoke(ci.ID); err != nil {
			t.Fatalf("revoking the creds/ci lease: %v", err)
		}
		p.expectGone("lease revoke", ci.Token)

		// Expiry.
		p.waitRevoked("the expired creds/brief lease", brief.Token, 20*sec)
		waitFor(t, "the expired lease leaves the server", 10*sec, func() (bool, string) {
			return !s.leaseExists(brief.ID), "the server still holds " + brief.ID
		})
		p.expectOnlyAdmin("after every lease ended", fingerprint(p.RootToken))
	})
}

// TestAcceptanceDynamicRobots: a role with role_bindings makes a robot per lease, bound at
// pachd while the lease lives, renewed with its bindings, and taken apart when the lease is
// revoked or expires.
func TestAcceptanceDynamicRobots(t *testing.T) {
	requireAcceptance(t)
	forEachGeneration(t, func(t *testing.T, g generation) {
		s, p := engineOn(t, g)
		c := s.root()
		ctx, cancel := context.WithTimeout(context.Background(), 30*sec)
		defer cancel()
		bindings := "repo:images=repoReader"
		if g.number == 2 {
			if _, err := p.CreateRepo(ctx, "default", "images", ""); err != nil {
				t.Fatalf("creating repo images: %v", err)
			}
			if _, err := p.CreateRepo(ctx, "default", "edges", ""); err != nil {
				t.Fatalf("creating repo edges: %v", err)
			}
			bindings = "repo:default/edges=repoWriter,repo:default/images=repoReader,project:default=projectViewer"
		} else if _, err := p.CreateRepo(ctx, "", "images", ""); err != nil {
			t.Fatalf("creating repo images: %v", err)
		}
		boundTo := func(subject string) int {
			held, err := p.BindingsOf(ctx, subject)
			if err != nil {
				t.Fatalf("GET /bindings: %v", err)
			}
			return len(held)
		}
		want := strings.Count(bindings, ",") + 1

		write(t, c, "pachyderm/roles/brief-robot", map[string]interface{}{"role_bindings": bindings, "ttl": "3s", "max_ttl": "1h"})
		brief := leaseOf(t, "creds/brief-robot")(c.Logical().Read("pachyderm/creds/brief-robot"))
		write(t, c, "pachyderm/roles/ci-writer", map[string]interface{}{"role_bindings": bindings, "ttl": "15m", "max_ttl": "2h"})
		robot := leaseOf(t, "creds/ci-writer")(c.Logical().Read("pachyderm/creds/ci-writer"))
		other := leaseOf(t, "creds/ci-writer")(c.Logical().Read("pachyderm/creds/ci-writer"))
		for _, l := range []lease{brief, robot, other} {
			if !strings.HasPrefix(l.Subject, "robot:vault-") {
				t.Fatalf("a dynamic robot is named %q, want robot:vault-…", l.Subject)
			}
			p.expectLive("a dynamic robot", l.Token, l.Subject)
			if n := boundTo(l.Subject); n != want {
				t.Errorf("%s holds bindings on %d resources, want %d", l.Subject, n, want)
			}
		}
		if robot.Subject == other.Subject {
			t.Fatalf("two reads of creds/ci-writer made the same robot %s", robot.Subject)
		}

		if _, err := c.Sys().Renew(robot.ID, 0); err != nil {
			t.Fatalf("renewing a robot's lease: %v", err)
		}
		p.expectLive("a renewed robot", robot.Token, robot.Subject)
		if n := boundTo(robot.Subject); n != want {
			t.Errorf("after renewing, %s holds bindings on %d resources, want %d", robot.Subject, n, want)
		}

		for _, l := range []lease{robot, other} {
			if err := c.Sys().Revoke(l.ID); err != nil {
				t.Fatalf("revoking a robot's lease: %v", err)
			}
			p.expectGone("a revoked robot", l.Token)
			if n := boundTo(l.Subject); n != 0 {
				t.Errorf("after revoking, %s still holds bindings on %d resources", l.Subject, n)
			}
		}

		p.waitRevoked("the expired robot lease", brief.Token, 20*sec)
		waitFor(t, "the expired robot's bindings removed", 10*sec, func() (bool, string) {
			n := boundTo(brief.Subject)
			return n == 0, strings.Repeat("binding ", n)
		})
		p.expectOnlyAdmin("after every robot lease ended", fingerprint(p.RootToken))
	})
}
