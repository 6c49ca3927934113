package acceptance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readmeAgentTemplate is the Vault Agent template of README's "Using tokens".
const readmeAgentTemplate = `template {
  destination = "/home/alice/.pachyderm/config.json"
  perms       = "0600"
  contents    = <<-EOT
    {{ with secret "pachyderm/creds/self" }}{
      "v2": {
        "active_context": "vault",
        "contexts": {
          "vault": {
            "pachd_address": "{{ .Data.pachd_address }}",
            "session_token": "{{ .Data.user_token }}"
          }
        }
      }
    }{{ end }}
  EOT
}`

// pachctlConfig is what the template renders: pachctl's config file.
type pachctlConfig struct {
	V2 struct {
		ActiveContext string `json:"active_context"`
		Contexts      map[string]struct {
			PachdAddress string `json:"pachd_address"`
			SessionToken string `json:"session_token"`
		} `json:"contexts"`
	} `json:"v2"`
}

// agent is a running `<server> agent -config=...`.
type agent struct {
	out    syncBuffer
	stopFn func()
}

func (a *agent) log() string { return a.out.String() }
func (a *agent) stop()       { a.stopFn() }

// startAgent runs the agent until stop or the end of the test.
func startAgent(t *testing.T, s *server, config string) *agent {
	t.Helper()
	path := filepath.Join(s.dir, "agent.hcl")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &agent{}
	cmd := exec.Command(s.bin, "agent", "-config="+path)
	cmd.Dir = s.dir
	cmd.Env = s.env("")
	cmd.Stdout, cmd.Stderr = &a.out, &a.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the agent: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	var once sync.Once
	a.stopFn = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				t.Errorf("the agent did not stop within 10s of SIGTERM; killing it")
				_ = cmd.Process.Kill()
				<-exited
			}
		})
	}
	t.Cleanup(func() {
		a.stop()
		if t.Failed() || os.Getenv("ACCEPTANCE_VERBOSE") == "1" {
			t.Logf("agent log:\n%s", tail(a.log(), 8000))
		}
	})
	return a
}

// TestAcceptanceAgent: Vault Agent logs in with AppRole and renders README's pachctl config
// template from the identity-templated role creds/self. The file holds a live token; when the
// lease reaches max_ttl the agent fetches a new token and renders the file again, and the old
// token is revoked at pachd when its lease ends; when an operator revokes the lease, the agent
// replaces the token too.
func TestAcceptanceAgent(t *testing.T) {
	requireAcceptance(t)
	forEachGeneration(t, func(t *testing.T, g generation) {
		s, p := engineOn(t, g)
		ids := setUpIdentities(t, s, map[string]string{"pachyderm-self": readme(t, readmePolicySelf)})
		s.cli("write", "auth/approle/role/workstation", "token_policies=pachyderm-self", "token_ttl=10m")
		s.cli("write", "auth/approle/role/workstation/role-id", "role_id=workstation")
		secretID := strings.TrimSpace(s.cli("write", "-f", "-field=secret_id", "auth/approle/role/workstation/secret-id"))
		subject := g.user("workstation")
		// A max_ttl of a few seconds, so the agent has to replace the token during the test.
		s.cli("write", "pachyderm/roles/self",
			fmt.Sprintf("subject_template=%s{{identity.entity.aliases.%s.name}}", g.userPrefix+":", ids.approleAccessor),
			"ttl=2s", "max_ttl=6s")

		roleIDFile, secretIDFile := filepath.Join(s.dir, "role-id"), filepath.Join(s.dir, "secret-id")
		for file, value := range map[string]string{roleIDFile: "workstation", secretIDFile: secretID} {
			if err := os.WriteFile(file, []byte(value), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		destination := filepath.Join(s.dir, "pachyderm", "config.json")
		template := replaceAll(readme(t, readmeAgentTemplate), "/home/alice/.pachyderm/config.json", destination)
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

		// rendered waits for the file to hold a token other than the ones seen before.
		rendered := func(what string, seen ...string) string {
			t.Helper()
			var token string
			waitFor(t, what, 30*sec, func() (bool, string) {
				b, err := os.ReadFile(destination)
				if err != nil {
					return false, err.Error()
				}
				var config pachctlConfig
				if err := json.Unmarshal(b, &config); err != nil {
					return false, fmt.Sprintf("not JSON yet (%v): %q", err, b)
				}
				vault, ok := config.V2.Contexts["vault"]
				if config.V2.ActiveContext != "vault" || !ok || vault.SessionToken == "" {
					return false, fmt.Sprintf("no active vault context: %s", b)
				}
				if vault.PachdAddress != p.PachdAddress {
					t.Fatalf("the rendered pachd_address is %q, want %q", vault.PachdAddress, p.PachdAddress)
				}
				for _, old := range seen {
					if vault.SessionToken == old {
						return false, "the file still holds the previous token; agent log: " + tail(ag.log(), 600)
					}
				}
				token = vault.SessionToken
				return true, ""
			})
			info, err := os.Stat(destination)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != 0o600 {
				t.Errorf("the rendered file has mode %v, want 0600", info.Mode().Perm())
			}
			return token
		}

		first := rendered("the first rendering")
		p.expectLive("the rendered token", first, subject)

		// max_ttl: the agent fetches a new token, renders again; the old lease ends and the
		// engine revokes the old token at pachd (before pachd's own expiry of it).
		second := rendered("a rendering with a new token at max_ttl", first)
		p.expectLive("the token rendered at max_ttl", second, subject)
		p.waitRevoked("the token replaced at max_ttl", first, 15*sec)

		// The next token may live an hour; then an operator revokes its lease.
		s.cli("write", "pachyderm/roles/self", "ttl=2s", "max_ttl=1h")
		third := rendered("a rendering after the role's max_ttl grew", first, second)
		p.expectLive("the long-lived token", third, subject)
		p.waitRevoked("the token replaced at max_ttl", second, 15*sec)
		s.cli("lease", "revoke", "-sync", "-prefix", "pachyderm/creds/self")
		p.expectGone("a token whose lease an operator revoked", third)
		fourth := rendered("a rendering after the lease was revoked", first, second, third)
		p.expectLive("the token rendered after the revocation", fourth, subject)

		// An agent that stops leaves its lease; revoking it revokes the last token.
		ag.stop()
		s.cli("lease", "revoke", "-sync", "-prefix", "pachyderm/creds/self")
		p.expectGone("the last rendered token", fourth)
		p.expectOnlyAdmin("after every lease was revoked", fingerprint(p.RootToken))
	})
}

// syncBuffer is a bytes.Buffer safe for a process's writes and the test's reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
