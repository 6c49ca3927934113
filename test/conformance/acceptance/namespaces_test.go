package acceptance

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// TestAcceptanceNamespaces: a Vault shared by two teams. Each namespace mounts the engine, and the
// server runs one plugin process for both mounts. Team B's config writer stores admin tokens built
// to break a shared process (JSON fragments, log keys, words that appear in every answer, team
// A's subject); team A's creds and login keep answering whole, with their leases, every line the
// plugin writes stays JSON, and revoking team A's leases leaves no token of theirs at pachd.
func TestAcceptanceNamespaces(t *testing.T) {
	requireAcceptance(t)
	forEachGeneration(t, func(t *testing.T, g generation) {
		p := startPachd(t, g, false)
		s := startServer(t)
		s.mountEngine()
		root := s.root()

		teams := map[string]*api.Client{}
		for _, name := range []string{"team-a", "team-b"} {
			if _, err := root.Logical().Write("sys/namespaces/"+name, nil); err != nil {
				// Vault's Community Edition has no namespaces (OpenBao, which CI runs, has them).
				if strings.Contains(err.Error(), "enterprise-only feature") && s.isVault() {
					t.Skipf("this server has no namespaces: %v", err)
				}
				t.Fatalf("creating namespace %s: %v", name, err)
			}
			c := s.root()
			c.SetNamespace(name)
			if err := c.Sys().Mount("pachyderm", &api.MountInput{Type: "pachyderm"}); err != nil {
				t.Fatalf("%s: enabling the engine: %v", name, err)
			}
			teams[name] = c
		}
		a, b := teams["team-a"], teams["team-b"]
		write(t, a, "pachyderm/config", map[string]interface{}{"pachd_address": p.PachdAddress, "admin_token": p.RootToken})
		write(t, a, "pachyderm/roles/ci", map[string]interface{}{"subject": "robot:ci", "ttl": "10m"})

		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		roles := []string{"clusterAdmin"}
		if g.number == 1 {
			roles = []string{"SUPER"}
		}
		adminB, err := p.CreateToken(ctx, "robot:team-b-admin", 0, roles)
		if err != nil {
			t.Fatalf("team B's admin token: %v", err)
		}
		write(t, b, "pachyderm/config", map[string]interface{}{"pachd_address": p.PachdAddress, "admin_token": adminB.Token})

		hostile := []string{`{"user_token":"`, `"@message":"`, `","@level":"error`, "pachd_address", "robot:ci", "user_token"}
		var leases []lease
		for i, value := range hostile {
			write(t, b, "pachyderm/config", map[string]interface{}{"admin_token": value, "verify_connection": false})
			creds := leaseOf(t, "team A's creds/ci")(a.Logical().Read("pachyderm/creds/ci"))
			login := leaseOf(t, "team A's login")(a.Logical().Write("pachyderm/login", map[string]interface{}{"username": "robot:ci"}))
			for _, l := range []lease{creds, login} {
				if l.ID == "" || !strings.HasPrefix(l.ID, "pachyderm/") {
					t.Fatalf("round %d (%q): team A's answer has no lease: %+v", i, value, l)
				}
				p.expectLive("team A's token beside a hostile neighbour", l.Token, "robot:ci")
			}
			leases = append(leases, creds, login)
		}

		pids := s.pluginPIDs()
		if len(pids) != 1 {
			t.Errorf("plugin processes serving both namespaces: %v, want one", pids)
		}
		mounts, err := a.Sys().ListMounts()
		if err != nil || mounts["pachyderm/"] == nil {
			t.Fatalf("team A's mounts: %v", err)
		}
		accessorA := mounts["pachyderm/"].Accessor
		parsed := 0
		for _, line := range strings.Split(s.log(), "\n") {
			if !strings.Contains(line, "secrets.pachyderm") {
				continue
			}
			// The server re-logs a plugin line it could parse as fields (@module=...); one it could
			// not is kept whole, raw JSON or broken text and all.
			if strings.Contains(line, `"@message"`) || strings.Contains(line, `"@level"`) {
				t.Errorf("a plugin line the server could not parse: %s", tail(line, 300))
			}
			if strings.Contains(line, "@module=") {
				parsed++
			}
			if strings.Contains(line, accessorA) && strings.Contains(line, "[REDACTED]") {
				t.Errorf("a line of team A's mount rewritten by team B's secret: %s", tail(line, 300))
			}
		}
		if parsed == 0 {
			t.Errorf("no plugin line in the server's log to judge")
		}

		if _, err := a.Logical().Write("sys/leases/revoke-prefix/pachyderm/", nil); err != nil {
			t.Fatalf("revoking team A's leases: %v", err)
		}
		for _, l := range leases {
			p.waitRevoked("team A's token after revoke-prefix", l.Token, 20*time.Second)
		}
		t.Logf("team A: %d leases issued and revoked beside %d hostile admin tokens of team B; %d plugin lines parsed",
			len(leases), len(hostile), parsed)
	})
}
