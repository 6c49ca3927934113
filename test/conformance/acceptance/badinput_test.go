package acceptance

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"
)

// badRequest is one malformed request through the server's HTTP API.
type badRequest struct {
	name   string
	method string
	path   string // under /v1/
	body   string
	// as names the caller: "" is the root token, "mallory" a userpass user with an entity.
	as string
}

func jsonBody(v map[string]interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// badRequests are the table; admin is the configured admin token, repo a repo role_bindings may
// name, closed a port nothing listens on, lease a live lease.
func badRequests(g generation, admin, closed, lease string) []badRequest {
	alice := g.user("alice@example.com")
	huge := strings.Repeat("a", 1<<20)
	tooManyBindings := make([]string, 33)
	for i := range tooManyBindings {
		tooManyBindings[i] = fmt.Sprintf("repo:images%d=repoReader", i)
	}
	put := func(name, path string, body interface{}) badRequest {
		switch b := body.(type) {
		case string:
			return badRequest{name: name, method: http.MethodPut, path: path, body: b}
		case map[string]interface{}:
			return badRequest{name: name, method: http.MethodPut, path: path, body: jsonBody(b)}
		}
		panic(body)
	}
	return []badRequest{
		// Bodies that are not what JSON or the fields say.
		put("truncated JSON", "pachyderm/config", `{"ttl": `),
		put("a JSON array", "pachyderm/config", `[1, 2, 3]`),
		put("a form, not JSON", "pachyderm/login", "username="+alice),
		put("ttl not a duration", "pachyderm/config", map[string]interface{}{"ttl": "forever"}),
		put("ttl negative", "pachyderm/config", map[string]interface{}{"ttl": -5}),
		put("ttl an object", "pachyderm/config", map[string]interface{}{"ttl": map[string]int{"h": 1}}),
		put("max_ttl past Go's 292 years", "pachyderm/config", map[string]interface{}{"max_ttl": "99999999999h"}),
		put("ttl above max_ttl", "pachyderm/config", map[string]interface{}{"ttl": "48h", "max_ttl": "24h"}),
		put("request_timeout above 300s", "pachyderm/config", map[string]interface{}{"request_timeout": "301s"}),
		put("request_timeout negative", "pachyderm/config", map[string]interface{}{"request_timeout": "-5s"}),
		put("pachd_max_in_flight a word", "pachyderm/config", map[string]interface{}{"pachd_max_in_flight": "many"}),
		put("pachd_max_in_flight past int64", "pachyderm/config", map[string]interface{}{"pachd_max_in_flight": 1e20}),
		put("pachd_max_in_flight fractional", "pachyderm/config", map[string]interface{}{"pachd_max_in_flight": 2.5}),
		put("generation 3", "pachyderm/config", map[string]interface{}{"generation": "3"}),
		put("verify_connection neither true nor false", "pachyderm/config", map[string]interface{}{"verify_connection": "perhaps"}),
		put("a new pachd_address without admin_token", "pachyderm/config", map[string]interface{}{"pachd_address": fmt.Sprintf("grpc://127.0.0.1:%s", closed)}),
		put("a pachd_address nothing answers at", "pachyderm/config", map[string]interface{}{"pachd_address": fmt.Sprintf("grpc://127.0.0.1:%s", closed), "admin_token": admin}),
		put("pachd_address a number", "pachyderm/config", map[string]interface{}{"pachd_address": 12345, "admin_token": admin}),
		put("pachd_address with a scheme pachd does not speak", "pachyderm/config", map[string]interface{}{"pachd_address": "ftp://127.0.0.1:21", "admin_token": admin}),
		put("pachd_tls_ca not PEM", "pachyderm/config", map[string]interface{}{"pachd_tls_ca": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----", "admin_token": admin}),
		put("admin_token with a newline inside", "pachyderm/config", map[string]interface{}{"admin_token": admin[:8] + "\n" + admin[8:]}),
		put("admin_token of 1 MiB", "pachyderm/config", map[string]interface{}{"admin_token": huge}),
		put("rotate-root ttl not a duration", "pachyderm/config/rotate-root", map[string]interface{}{"ttl": "soon"}),

		// Logins.
		put("login without a subject", "pachyderm/login", map[string]interface{}{}),
		put("login with subject instead of username", "pachyderm/login", map[string]interface{}{"subject": alice}),
		put("login username null", "pachyderm/login", `{"username": null}`),
		put("login username an array", "pachyderm/login", map[string]interface{}{"username": []string{alice, "robot:ci"}}),
		put("login username without a prefix", "pachyderm/login", map[string]interface{}{"username": "alice"}),
		put("login as pach:root", "pachyderm/login", map[string]interface{}{"username": "pach:root"}),
		put("login as a pipeline", "pachyderm/login", map[string]interface{}{"username": "pipeline:edges"}),
		put("login username with a zero-width space", "pachyderm/login", map[string]interface{}{"username": g.user("al\u200bice@example.com")}),
		put("login username with a newline", "pachyderm/login", map[string]interface{}{"username": alice + "\nrobot:ci"}),
		put("login username of 1 MiB", "pachyderm/login", map[string]interface{}{"username": g.user(huge)}),
		put("login ttl above max_ttl", "pachyderm/login", map[string]interface{}{"username": alice, "ttl": "100000h"}),
		put("login ttl 1y (not a Go duration)", "pachyderm/login", map[string]interface{}{"username": alice, "ttl": "1y"}),
		put("login ttl 1e300 seconds", "pachyderm/login", map[string]interface{}{"username": alice, "ttl": 1e300}),
		put("login ttl above its own max_ttl", "pachyderm/login", map[string]interface{}{"username": alice, "ttl": "2h", "max_ttl": "1h"}),
		{name: "login/<a pipeline> in the path", method: http.MethodPut, path: "pachyderm/login/pipeline:edges"},
		{name: "login/<a NUL byte> in the path", method: http.MethodPut, path: "pachyderm/login/user:al%00ice"},
		{name: "login/<a robot name with a colon>", method: http.MethodPut, path: "pachyderm/login/robot:a:b"},
		{name: "a body of 33 MiB", method: http.MethodPut, path: "pachyderm/login", body: `{"username": "` + strings.Repeat("a", 33<<20) + `"}`},

		// Roles and creds.
		put("a role with subject and subject_template", "pachyderm/roles/bad", map[string]interface{}{"subject": "robot:x", "subject_template": "robot:{{identity.entity.id}}"}),
		put("a role with none of subject, subject_template, role_bindings", "pachyderm/roles/bad", map[string]interface{}{"ttl": "1h"}),
		put("a template with an unknown placeholder", "pachyderm/roles/bad", map[string]interface{}{"subject_template": g.userPrefix + ":{{identity.entity.nonsense}}"}),
		put("a template left open", "pachyderm/roles/bad", map[string]interface{}{"subject_template": g.userPrefix + ":{{identity.entity.id"}),
		put("a template without a written prefix", "pachyderm/roles/bad", map[string]interface{}{"subject_template": "{{identity.entity.name}}"}),
		put("a template of Go template syntax", "pachyderm/roles/bad", map[string]interface{}{"subject_template": g.userPrefix + `:{{printf "%s" .}}`}),
		put("role_bindings on a repo that does not exist", "pachyderm/roles/bad", map[string]interface{}{"role_bindings": "repo:nope=repoReader"}),
		put("role_bindings granting clusterAdmin", "pachyderm/roles/bad", map[string]interface{}{"role_bindings": "cluster=clusterAdmin"}),
		put("role_bindings without a role", "pachyderm/roles/bad", map[string]interface{}{"role_bindings": "garbage"}),
		put("role_bindings with 33 entries", "pachyderm/roles/bad", map[string]interface{}{"role_bindings": strings.Join(tooManyBindings, ",")}),
		put("robot_name_template with random 2", "pachyderm/roles/bad", map[string]interface{}{"role_bindings": "repo:images=repoReader", "robot_name_template": "vault-{{random 2}}"}),
		put("a role ttl above its max_ttl", "pachyderm/roles/bad", map[string]interface{}{"subject": "robot:x", "ttl": "2h", "max_ttl": "1h"}),
		put("a role subject of another form", "pachyderm/roles/bad", map[string]interface{}{"subject": "group:admins"}),
		{name: "creds of a role that does not exist", method: http.MethodGet, path: "pachyderm/creds/nope"},
		{name: "creds ttl not a duration", method: http.MethodGet, path: "pachyderm/creds/ci?ttl=forever"},
		{name: "creds ttl above the role's max_ttl", method: http.MethodGet, path: "pachyderm/creds/ci?ttl=100h"},
		{name: "creds/self for the root token (no entity)", method: http.MethodGet, path: "pachyderm/creds/self"},
		{name: "creds/by-email for an email with a zero-width space", method: http.MethodGet, path: "pachyderm/creds/by-email", as: "mallory"},
		{name: "creds/by-email for an email with a newline and a second subject", method: http.MethodGet, path: "pachyderm/creds/by-team", as: "mallory"},
		{name: "creds/by-missing for metadata the entity lacks", method: http.MethodGet, path: "pachyderm/creds/by-missing", as: "mallory"},
		{name: "DELETE on creds", method: http.MethodDelete, path: "pachyderm/creds/ci"},
		{name: "LIST on login", method: "LIST", path: "pachyderm/login"},
		{name: "a path the engine does not have", method: http.MethodGet, path: "pachyderm/nope"},
		{name: "a role name with a slash", method: http.MethodPut, path: "pachyderm/roles/a/b", body: `{"subject": "robot:x"}`},

		// Revocation and renewal.
		put("revoke without user_token", "pachyderm/revoke", map[string]interface{}{}),
		put("revoke of the admin token", "pachyderm/revoke", map[string]interface{}{"user_token": admin}),
		put("revoke of a token with a space", "pachyderm/revoke", map[string]interface{}{"user_token": "abc def"}),
		put("revoke of 1 MiB", "pachyderm/revoke", map[string]interface{}{"user_token": huge}),
		put("renew a lease that does not exist", "sys/leases/renew", map[string]interface{}{"lease_id": "pachyderm/creds/ci/nope"}),
		put("renew with an increment that is no duration", "sys/leases/renew", map[string]interface{}{"lease_id": lease, "increment": "eternity"}),
		put("version with a body", "pachyderm/version", `{"x": `),
	}
}

// TestAcceptanceBadInput sends malformed requests through the server's HTTP API: each must get a
// 4xx (never a 5xx), refused writes must change nothing, the plugin process must not restart,
// and no token may be left at pachd.
func TestAcceptanceBadInput(t *testing.T) {
	requireAcceptance(t)
	forEachGeneration(t, func(t *testing.T, g generation) {
		s, p := engineOn(t, g)
		c := s.root()
		ids := setUpIdentities(t, s, map[string]string{"mallory": `path "pachyderm/creds/*" { capabilities = ["read"] }`})
		entity := strings.TrimSpace(s.cli("write", "-field=id", "identity/entity", "name=mallory"))
		write(t, c, "identity/entity/id/"+entity, map[string]interface{}{
			"metadata": map[string]string{"email": "mallory\u200b@example.com", "team": "a\n" + g.user("victim")},
		})
		s.cli("write", "identity/entity-alias", "name=mallory", "canonical_id="+entity, "mount_accessor="+ids.userpassAccessor)
		s.cli("write", "auth/userpass/users/mallory", "password=mallory-password", "token_policies=mallory")
		mallory := s.userpassLogin("mallory", "mallory-password")

		write(t, c, "pachyderm/roles/ci", map[string]interface{}{"subject": "robot:ci", "ttl": "15m", "max_ttl": "2h"})
		write(t, c, "pachyderm/roles/self", map[string]interface{}{"subject_template": fmt.Sprintf("%s:{{identity.entity.aliases.%s.name}}", g.userPrefix, ids.userpassAccessor)})
		write(t, c, "pachyderm/roles/by-email", map[string]interface{}{"subject_template": g.userPrefix + ":{{identity.entity.metadata.email}}"})
		write(t, c, "pachyderm/roles/by-team", map[string]interface{}{"subject_template": g.userPrefix + ":{{identity.entity.metadata.team}}"})
		write(t, c, "pachyderm/roles/by-missing", map[string]interface{}{"subject_template": g.userPrefix + ":{{identity.entity.metadata.missing}}"})
		live := leaseOf(t, "creds/ci")(c.Logical().Read("pachyderm/creds/ci"))

		configBefore, err := c.Logical().Read("pachyderm/config")
		if err != nil {
			t.Fatal(err)
		}
		rolesBefore, err := c.Logical().List("pachyderm/roles")
		if err != nil {
			t.Fatal(err)
		}
		pid := s.pluginPID()

		// Vault (not OpenBao) checks a body's JSON limits in its HTTP layer and answers 500 with
		// its own words before the request reaches any engine; such answers are counted apart.
		vault := s.isVault()
		serverRefused := 0
		closed := fmt.Sprint(freePort(t))
		counts := map[int]int{}
		for _, r := range badRequests(g, p.RootToken, closed, live.ID) {
			token := rootToken
			if r.as == "mallory" {
				token = mallory
			}
			var body io.Reader
			if r.body != "" {
				body = strings.NewReader(r.body)
			}
			status, answer := s.httpDo(token, r.method, "/v1/"+r.path, body)
			counts[status]++
			if strings.Contains(answer, p.RootToken) {
				t.Errorf("%s: the answer repeats the admin token", r.name)
			}
			if vault && status == 500 && refusedByVaultHTTPLayer(answer) {
				serverRefused++
				continue
			}
			if status < 400 || status > 499 {
				t.Errorf("%s: %s /v1/%s answered %d, want 4xx: %s", r.name, r.method, shortPath(r.path), status, tail(answer, 400))
			}
		}
		t.Logf("statuses: %v (of which refused by Vault's HTTP layer before the plugin: %d)", counts, serverRefused)

		configAfter, err := c.Logical().Read("pachyderm/config")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(configBefore.Data, configAfter.Data) {
			t.Errorf("refused writes changed the configuration:\nbefore %v\nafter  %v", configBefore.Data, configAfter.Data)
		}
		rolesAfter, err := c.Logical().List("pachyderm/roles")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(roleNames(rolesBefore), roleNames(rolesAfter)) {
			t.Errorf("refused writes changed the roles: %v, then %v", roleNames(rolesBefore), roleNames(rolesAfter))
		}
		if pids := s.pluginPIDs(); len(pids) != 1 || pids[0] != pid {
			t.Errorf("the plugin process changed during the bad requests: %d, then %v", pid, pids)
		}
		if _, err := c.Sys().Renew(live.ID, 0); err != nil {
			t.Errorf("renewing the live lease after the bad requests: %v", err)
		}
		if err := c.Sys().Revoke(live.ID); err != nil {
			t.Fatalf("revoking the live lease: %v", err)
		}
		p.expectOnlyAdmin("after the bad requests", fingerprint(p.RootToken))
	})
}

func shortPath(path string) string {
	if u, err := url.PathUnescape(path); err == nil {
		path = u
	}
	return tail(path, 80)
}

// roleNames are the keys of a LIST answer, sorted.
func roleNames(secret *api.Secret) []string {
	if secret == nil {
		return nil
	}
	keys, _ := secret.Data["keys"].([]interface{})
	var names []string
	for _, k := range keys {
		names = append(names, fmt.Sprint(k))
	}
	sort.Strings(names)
	return names
}

// refusedByVaultHTTPLayer: an answer from Vault's JSON limits check (sdk/helper/jsonutil), which
// runs before routing, so no engine saw the request.
func refusedByVaultHTTPLayer(answer string) bool {
	for _, words := range []string{"malformed JSON", "JSON string value exceeds allowed length"} {
		if strings.Contains(answer, words) {
			return true
		}
	}
	return false
}
