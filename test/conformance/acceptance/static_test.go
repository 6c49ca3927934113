package acceptance

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeStaticAgentTemplate is the Vault Agent template of README's "Static robots".
const readmeStaticAgentTemplate = `template {
  destination = "/etc/loader/pachyderm-config.json"
  perms       = "0600"
  command     = "systemctl reload loader"
  contents    = <<-EOT
    {{ with secret "pachyderm/static-creds/loader" }}{
      "v2": {
        "active_context": "vault",
        "contexts": {
          "vault": {
            "pachd_address": "{{ .Data.pachd_address }}",
            "session_token": "{{ .Data.token }}"
          }
        }
      }
    }{{ end }}
  EOT
}`

// readmeStaticPolicy is the consumer's policy of README's "Static robots".
const readmeStaticPolicy = `path "pachyderm/static-creds/loader" { capabilities = ["read"] }`

// TestAcceptanceAgentStaticCreds: the README's Vault Agent template for a static robot, on a
// real server. The agent renders the robot's token, and re-reads the lease-less secret on its
// own after its ttl (consul-template's rule for data with rotation_period and ttl): after an
// operator's rotate-role, and again after the scheduled rotation the server's rollback tick
// runs, the file holds the new token, and the replaced ones no longer work at pachd.
func TestAcceptanceAgentStaticCreds(t *testing.T) {
	requireAcceptance(t)
	forEachGeneration(t, func(t *testing.T, g generation) {
		const subject = "robot:loader"
		s, p := engineOn(t, g)
		setUpIdentities(t, s, map[string]string{"pachyderm-loader": readme(t, readmeStaticPolicy)})
		s.cli("write", "auth/approle/role/loader", "token_policies=pachyderm-loader", "token_ttl=10m")
		s.cli("write", "auth/approle/role/loader/role-id", "role_id=loader")
		secretID := strings.TrimSpace(s.cli("write", "-f", "-field=secret_id", "auth/approle/role/loader/secret-id"))
		s.cli("write", "pachyderm/static-roles/loader", "subject="+subject, "rotation_period=1m")

		roleIDFile, secretIDFile := filepath.Join(s.dir, "role-id"), filepath.Join(s.dir, "secret-id")
		for file, value := range map[string]string{roleIDFile: "loader", secretIDFile: secretID} {
			if err := os.WriteFile(file, []byte(value), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		destination := filepath.Join(s.dir, "loader", "pachyderm-config.json")
		template := replaceAll(readme(t, readmeStaticAgentTemplate),
			"/etc/loader/pachyderm-config.json", destination,
			`command     = "systemctl reload loader"`, "")
		ag := startAgent(t, s, fmt.Sprintf(`
pid_file = %q
vault {
  address = %q
}
auto_auth {
  method "approle" {
    config = {
      role_id_file_path                   = %q
      secret_id_file_path                 = %q
      remove_secret_id_file_after_reading = false
    }
  }
}
template_config {
  exit_on_retry_failure = true
}
%s
`, filepath.Join(s.dir, "agent.pid"), s.addr, roleIDFile, secretIDFile, template))

		rendered := func(what string, seen ...string) string {
			t.Helper()
			var token string
			// A re-read comes ttl+1 seconds after the last (at most a minute here), and a due
			// rotation waits for the server's next rollback tick (each minute).
			waitFor(t, what, 180*sec, func() (bool, string) {
				b, err := os.ReadFile(destination)
				if err != nil {
					return false, err.Error()
				}
				var config pachctlConfig
				if err := json.Unmarshal(b, &config); err != nil {
					return false, fmt.Sprintf("not JSON yet (%v)", err)
				}
				vault := config.V2.Contexts["vault"]
				if vault.SessionToken == "" {
					return false, "no token rendered yet"
				}
				if vault.PachdAddress != p.PachdAddress {
					t.Fatalf("the rendered pachd_address is %q, want %q", vault.PachdAddress, p.PachdAddress)
				}
				for _, old := range seen {
					if vault.SessionToken == old {
						return false, "the file still holds a replaced token; agent log: " + tail(ag.log(), 400)
					}
				}
				token = vault.SessionToken
				return true, ""
			})
			return token
		}

		first := rendered("the first rendering")
		p.expectLive("the rendered static token", first, subject)

		// rotate-role: the old token goes at once (no grace); the agent renders the new one
		// when its ttl runs out.
		s.cli("write", "-f", "pachyderm/rotate-role/loader")
		p.expectGone("the token rotate-role replaced", first)
		second := rendered("a rendering after rotate-role", first)
		p.expectLive("the token rendered after rotate-role", second, subject)

		// The schedule: the server's rollback tick rotates a minute later, the agent follows.
		third := rendered("a rendering after the scheduled rotation", first, second)
		p.expectLive("the token rendered after the scheduled rotation", third, subject)
		p.expectGone("the token the scheduled rotation replaced", second)

		ag.stop()
		s.cli("delete", "pachyderm/static-roles/loader")
		p.expectGone("the static token after the role was deleted", third)
		p.expectOnlyAdmin("after the static role was deleted", fingerprint(p.RootToken))
	})
}

// TestAcceptanceStaticGraceTimer: on a real server, a static robot's replaced token keeps working
// through its rotation_grace and is revoked within seconds of its end by the plugin's own timer,
// which reaches the mount's storage outside any request; the server's rollback tick (each
// minute) would be up to a minute late.
func TestAcceptanceStaticGraceTimer(t *testing.T) {
	requireAcceptance(t)
	forEachGeneration(t, func(t *testing.T, g generation) {
		const subject = "robot:loader"
		s, p := engineOn(t, g)
		const grace = 8 * sec
		s.cli("write", "pachyderm/static-roles/loader", "subject="+subject, "rotation_period=1h", "rotation_grace=8s")
		first := strings.TrimSpace(s.cli("read", "-field=token", "pachyderm/static-creds/loader"))
		// Taken before the request: the rotation happens after it, so the retirement cannot come
		// earlier than this plus the grace, however long the CLI takes to return on a busy host.
		asked := time.Now()
		s.cli("write", "-f", "pachyderm/rotate-role/loader")
		if time.Since(asked) < grace-2*sec {
			p.expectLive("the replaced token inside its grace", first, subject)
		}
		second := strings.TrimSpace(s.cli("read", "-field=token", "pachyderm/static-creds/loader"))
		p.waitRevoked("the replaced token once its grace ended", first, 30*sec)
		if took := time.Since(asked); took < grace {
			t.Fatalf("the replaced token was revoked %v after the rotation was asked for, before its 8s grace ended", took)
		}
		p.expectLive("the current token", second, subject)
		s.cli("delete", "pachyderm/static-roles/loader")
		p.expectOnlyAdmin("after the static role was deleted", fingerprint(p.RootToken))
	})
}
