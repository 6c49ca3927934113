package acceptance

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

const (
	readmeSelfRole = `vault write pachyderm/roles/self \
    subject_template="user:{{identity.entity.aliases.$accessor.name}}" ttl=1h max_ttl=8h`
	readmePolicySelf  = `path "pachyderm/creds/self" { capabilities = ["read"] }`
	readmePolicyLogin = `path "pachyderm/login/user:{{identity.entity.metadata.email}}" { capabilities = ["update"] }`
)

// accessors maps each auth mount ("userpass/") to its accessor.
func (s *server) accessors() map[string]string {
	s.t.Helper()
	var mounts map[string]struct {
		Accessor string `json:"accessor"`
	}
	s.cliJSON(rootToken, &mounts, "auth", "list", "-format=json")
	out := map[string]string{}
	for path, m := range mounts {
		out[path] = m.Accessor
	}
	return out
}

// identitySetup enables userpass and AppRole, gives alice (userpass) an entity with an email and
// an alias made in advance, and gives the AppRole role "ci" the role_id ci-bot.
type identitySetup struct {
	userpassAccessor, approleAccessor string
}

func setUpIdentities(t *testing.T, s *server, policies map[string]string) identitySetup {
	t.Helper()
	s.cli("auth", "enable", "userpass")
	s.cli("auth", "enable", "approle")
	for name, text := range policies {
		s.sh(fmt.Sprintf("vault policy write %s - <<'EOF'\n%s\nEOF", name, text))
	}
	accessors := s.accessors()
	setup := identitySetup{userpassAccessor: accessors["userpass/"], approleAccessor: accessors["approle/"]}
	if setup.userpassAccessor == "" || setup.approleAccessor == "" {
		t.Fatalf("auth list: no accessor for userpass/ or approle/: %v", accessors)
	}
	entity := strings.TrimSpace(s.cli("write", "-field=id", "identity/entity", "name=alice", "metadata=email=alice@example.com"))
	s.cli("write", "identity/entity-alias", "name=alice", "canonical_id="+entity, "mount_accessor="+setup.userpassAccessor)
	return setup
}

func (s *server) userpassLogin(user, password string) string {
	s.t.Helper()
	return strings.TrimSpace(s.cli("login", "-no-store", "-token-only", "-method=userpass", "username="+user, "password="+password))
}

func (s *server) approleLogin(roleID, secretID string) string {
	s.t.Helper()
	return strings.TrimSpace(s.cli("write", "-field=token", "auth/approle/login", "role_id="+roleID, "secret_id="+secretID))
}

// TestAcceptanceIdentity: roles whose subject comes from the caller's Vault identity, through
// real auth methods: userpass (an entity made in advance, with metadata and an alias) and
// AppRole (the alias the login creates), with the README's role and policies, ACL templating
// included.
func TestAcceptanceIdentity(t *testing.T) {
	requireAcceptance(t)
	forEachGeneration(t, func(t *testing.T, g generation) {
		s, p := engineOn(t, g)
		prefix := g.userPrefix + ":"
		people := readme(t, readmePolicySelf) + "\n" +
			strings.Replace(readme(t, readmePolicyLogin), "user:", prefix, 1) + "\n" +
			`path "pachyderm/creds/by-email" { capabilities = ["read"] }` + "\n" +
			`path "pachyderm/creds/by-name" { capabilities = ["read"] }`
		robots := `path "pachyderm/creds/ci-self" { capabilities = ["read"] }` + "\n" + readmePolicySelf
		ids := setUpIdentities(t, s, map[string]string{"pachyderm-people": people, "pachyderm-robots": robots})

		s.cli("write", "auth/userpass/users/alice", "password=correct-horse", "token_policies=pachyderm-people")
		s.cli("write", "auth/approle/role/ci", "token_policies=pachyderm-robots", "token_ttl=10m")
		s.cli("write", "auth/approle/role/ci/role-id", "role_id=ci-bot")
		secretID := strings.TrimSpace(s.cli("write", "-f", "-field=secret_id", "auth/approle/role/ci/secret-id"))

		s.sh(fmt.Sprintf("accessor=%s\n", ids.userpassAccessor) +
			strings.Replace(readme(t, readmeSelfRole), `subject_template="user:`, `subject_template="`+prefix, 1))
		s.cli("write", "pachyderm/roles/by-email", "subject_template="+prefix+"{{identity.entity.metadata.email}}")
		s.cli("write", "pachyderm/roles/by-name", "subject_template="+prefix+"{{identity.entity.name}}")
		s.cli("write", "pachyderm/roles/ci-self", fmt.Sprintf("subject_template=%s{{identity.entity.aliases.%s.name}}", prefix, ids.approleAccessor))
		s.cli("write", "pachyderm/roles/ci", "subject=robot:ci")

		var held []lease
		alice := s.client(s.userpassLogin("alice", "correct-horse"))
		for _, c := range []struct{ path, subject string }{
			{"pachyderm/creds/self", prefix + "alice"},
			{"pachyderm/creds/by-email", prefix + "alice@example.com"},
			{"pachyderm/creds/by-name", prefix + "alice"},
		} {
			l := leaseOf(t, "alice reads "+c.path)(alice.Logical().Read(c.path))
			if l.Subject != c.subject {
				t.Errorf("alice reads %s: subject %q, want %q", c.path, l.Subject, c.subject)
			}
			p.expectLive("alice reads "+c.path, l.Token, c.subject)
			held = append(held, l)
		}
		own := leaseOf(t, "alice logs in as herself")(alice.Logical().Write("pachyderm/login/"+prefix+"alice@example.com", nil))
		p.expectLive("login/<her email>", own.Token, prefix+"alice@example.com")
		held = append(held, own)
		if _, err := alice.Sys().Renew(own.ID, 0); err != nil {
			t.Errorf("alice renewing her own lease (the default policy allows it): %v", err)
		}
		for _, path := range []string{"pachyderm/login/" + prefix + "bob@example.com", "pachyderm/creds/ci", "pachyderm/creds/ci-self"} {
			var err error
			if strings.Contains(path, "/login/") {
				_, err = alice.Logical().Write(path, nil)
			} else {
				_, err = alice.Logical().Read(path)
			}
			if statusOf(err) != http.StatusForbidden {
				t.Errorf("alice on %s: %v, want 403", path, err)
			}
		}

		bot := s.client(s.approleLogin("ci-bot", secretID))
		l := leaseOf(t, "the AppRole login reads creds/ci-self")(bot.Logical().Read("pachyderm/creds/ci-self"))
		if l.Subject != prefix+"ci-bot" {
			t.Errorf("creds/ci-self through AppRole: subject %q, want %q", l.Subject, prefix+"ci-bot")
		}
		p.expectLive("creds/ci-self", l.Token, prefix+"ci-bot")
		held = append(held, l)
		// Its entity has no userpass alias: creds/self cannot be filled in for it.
		if _, err := bot.Logical().Read("pachyderm/creds/self"); statusOf(err) != http.StatusBadRequest {
			t.Errorf("creds/self for an identity without a userpass alias: %v, want 400", err)
		}
		if _, err := s.root().Logical().Read("pachyderm/creds/self"); statusOf(err) != http.StatusBadRequest {
			t.Errorf("creds/self for the root token (no entity): %v, want 400", err)
		}

		for _, l := range held {
			if err := s.root().Sys().Revoke(l.ID); err != nil {
				t.Fatalf("revoking %s: %v", l.ID, err)
			}
			p.expectGone("revoked", l.Token)
		}
		p.expectOnlyAdmin("after every lease was revoked", fingerprint(p.RootToken))
	})
}
