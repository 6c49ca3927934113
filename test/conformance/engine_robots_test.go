package conformance

import (
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"google.golang.org/grpc/codes"

	"pachyderm-vault-plugin/test/conformance/harness"
	"pachyderm-vault-plugin/test/conformance/standin"
)

// TestEngineDynamicRobots: a role with role_bindings, through Vault's plugin
// protocol against build/pachyderm and the pachd stand-in, on both pachd
// generations. Each creds read makes a robot of its own holding exactly the
// role's bindings; renewing keeps it; revoking the lease (as Vault's
// expiration manager sends it, also after the lease expired) takes it apart
// at pachd, leaving every other principal's bindings as they were.
func TestEngineDynamicRobots(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, e *engineEnv) {
		e.configure(nil)
		for _, name := range []string{"images", "edges"} {
			if _, err := e.pachd.CreateRepo(e.ctx, "", name, ""); err != nil {
				t.Fatalf("creating repo %s at the stand-in: %v", name, err)
			}
		}
		// 1.x names repos bare and keeps scopes; 2.x binds roles on project/repo.
		written := []string{"repo:default/images=repoReader", "repo:default/edges=repoWriter", "project:default=projectViewer"}
		expected := map[string][]string{"repo:default/images": {"repoReader"}, "repo:default/edges": {"repoWriter"}, "project:default": {"projectViewer"}}
		repo := func(name string) string { return "repo:default/" + name }
		if e.gen.generation == 1 {
			written = []string{"repo:images=repoReader", "repo:edges=repoWriter"}
			expected = map[string][]string{"repo:images": {"READER"}, "repo:edges": {"WRITER"}}
			repo = func(name string) string { return "repo:" + name }
		}
		var weak *standin.CreatedToken
		if e.gen.generation == 2 {
			// An admin token that may mint robot tokens but not change bindings
			// anywhere (its cluster binding to robotUser is part of "before").
			var err error
			if weak, err = e.pachd.CreateToken(e.ctx, "robot:weak-admin", 3600, []string{"robotUser"}); err != nil {
				t.Fatalf("POST /tokens: %v", err)
			}
			e.addSecret(weak.Token, "the robotUser-only admin token")
			if _, err := e.pachd.CreateRepo(e.ctx, "", "owned", "robot:weak-admin"); err != nil {
				t.Fatalf("creating repo owned at the stand-in: %v", err)
			}
		}
		before := e.bindingsSnapshot()

		// ---- roles that cannot work are refused when written
		type badRole struct{ what, bindings, mention string }
		bad := []badRole{
			{"an unknown pachd role", repo("images") + "=noSuchRole", `unknown pachd role "noSuchRole"`},
			{"a repo pachd does not have", "repo:nosuchrepo=repoReader", "does not exist"},
			{"clusterAdmin on the cluster", "cluster=clusterAdmin", "cannot be given clusterAdmin"},
			{"clusterAdmin on a repo", repo("images") + "=clusterAdmin", "cannot be given clusterAdmin"},
			{"robotUser", "cluster=robotUser", "cannot be given robotUser"},
			{"a malformed entry", repo("images") + "=repoReader,subject", "must read"},
		}
		if e.gen.generation == 2 {
			bad = append(bad,
				badRole{"a project pachd does not have", "project:nosuchproject=projectViewer", "does not exist"},
				badRole{"a project role on a repo", repo("images") + "=projectViewer", "projectViewer means nothing on a repo"},
			)
		} else {
			bad = append(bad, badRole{"a project on 1.x", "project:default=projectViewer", "no projects"})
		}
		for _, c := range bad {
			r := e.write("roles/bad", map[string]interface{}{"role_bindings": c.bindings})
			expectStatus(t, "write a role with "+c.what, r, 400)
			expectErrorContains(t, "write a role with "+c.what, r, c.mention)
		}
		r := e.write("roles/bad", map[string]interface{}{"role_bindings": strings.Join(written, ","), "subject": "robot:ci"})
		expectStatus(t, "write a role with both role_bindings and subject", r, 400)
		expectErrorContains(t, "write a role with both role_bindings and subject", r, "give one of")
		if e.gen.generation == 2 {
			e.configure(map[string]interface{}{"admin_token": weak.Token})
			r := e.write("roles/bad", map[string]interface{}{"role_bindings": repo("images") + "=repoReader"})
			expectStatus(t, "write a role the robotUser admin may not grant", r, 400)
			expectErrorContains(t, "write a role the robotUser admin may not grant", r,
				"robot:weak-admin", "may not change role bindings on repo:default/images")
			// The same admin owns repo owned: it may grant there, and only there.
			r = e.write("roles/bad", map[string]interface{}{"role_bindings": "repo:default/owned=repoReader,repo:default/edges=repoReader"})
			expectStatus(t, "write a role on an owned and a foreign repo with the robotUser admin", r, 400)
			expectErrorContains(t, "write a role on an owned and a foreign repo with the robotUser admin", r, "repo:default/edges", "repoOwner")
			expectOK(t, "write a role on the repo the robotUser admin owns", e.write("roles/owned", map[string]interface{}{"role_bindings": "repo:default/owned=repoReader"}))
			// pachd generates the token (the admin may not restore), and the
			// robot is taken apart with what this admin may do.
			owned := e.issue("read creds/owned with the robotUser admin", e.m.NewRequest(logical.ReadOperation, "creds/owned", nil))
			ownedRobot, _ := owned.data["subject"].(string)
			e.expectWorks("creds/owned", owned.token, ownedRobot)
			e.expectHolds(ownedRobot, map[string][]string{"repo:default/owned": {"repoReader"}})
			expectOK(t, "revoke the creds/owned lease", e.revoke(owned))
			e.expectHolds(ownedRobot, nil)
			e.expectLiveTokens(ownedRobot, 0)
			expectOK(t, "delete roles/owned", e.do(e.m.NewRequest(logical.DeleteOperation, "roles/owned", nil)))
			e.configure(nil)
		} else {
			t.Log("1.x: an admin token that may not grant cannot be configured at all (TestEngineConfig)")
		}
		if r := e.read("roles/bad"); r.Status != 404 {
			t.Errorf("after the refused writes, read roles/bad answered %d (%s), want 404", r.Status, harness.DescribeResponse(r.Resp))
		}
		if r := e.do(e.m.NewRequest(logical.ListOperation, "roles/", nil)); r.Err == nil && len(listKeys(r)) != 0 {
			t.Errorf("after the refused writes, list roles/ holds %v", listKeys(r))
		}
		if got := e.bindingsSnapshot(); !reflect.DeepEqual(got, before) {
			t.Errorf("refused role writes changed pachd's bindings:\nbefore %v\nafter  %v", before, got)
		}

		// ---- a dynamic role, written and read back
		r = e.write("roles/dyn", map[string]interface{}{"role_bindings": strings.Join(written, ","), "ttl": "10m", "max_ttl": "1h"})
		if !expectOK(t, "write roles/dyn", r) {
			t.FailNow()
		}
		r = e.read("roles/dyn")
		if expectOK(t, "read roles/dyn", r) {
			d := r.Data()
			if got, ok := asStrings(d["role_bindings"]); !ok || !reflect.DeepEqual(got, written) {
				t.Errorf("roles/dyn: role_bindings = %#v, want %q", d["role_bindings"], written)
			}
			if d["robot_name_template"] != "vault-{{.RoleName | truncate 24}}-{{unix_time}}-{{random 8}}" {
				t.Errorf("roles/dyn: robot_name_template = %#v, want the default", d["robot_name_template"])
			}
			if d["subject"] != "" || d["subject_template"] != "" {
				t.Errorf("roles/dyn: subject %#v, subject_template %#v, want both empty", d["subject"], d["subject_template"])
			}
			expectNumber(t, "roles/dyn ttl", d["ttl"], 600)
			expectNumber(t, "roles/dyn max_ttl", d["max_ttl"], 3600)
		}

		// A refused update leaves the role as it was.
		r = e.write("roles/dyn", map[string]interface{}{"role_bindings": "repo:nosuchrepo=repoReader"})
		expectStatus(t, "update roles/dyn with a missing repo", r, 400)
		if r := e.read("roles/dyn"); expectOK(t, "read roles/dyn after the refused update", r) {
			if got, _ := asStrings(r.Data()["role_bindings"]); !reflect.DeepEqual(got, written) {
				t.Errorf("a refused update changed roles/dyn's role_bindings to %q", got)
			}
		}

		// ---- vault path-help pachyderm/roles/dyn
		e.checkRoleHelp("roles/dyn")

		// ---- two reads, two robots
		robotName := regexp.MustCompile(`^robot:vault-dyn-[0-9]{10}-[a-z0-9]{8}$`)
		first := e.issue("read creds/dyn (first)", e.m.NewRequest(logical.ReadOperation, "creds/dyn", nil))
		second := e.issue("read creds/dyn (second)", e.m.NewRequest(logical.ReadOperation, "creds/dyn", nil))
		robots := []string{}
		for i, l := range []*lease{first, second} {
			subject, _ := l.data["subject"].(string)
			robots = append(robots, subject)
			if !robotName.MatchString(subject) {
				t.Errorf("creds/dyn read %d: subject %q is not a robot named by the default template", i+1, subject)
			}
			if got, ok := asStrings(l.data["role_bindings"]); !ok || !reflect.DeepEqual(got, written) {
				t.Errorf("creds/dyn read %d: role_bindings = %#v, want %q", i+1, l.data["role_bindings"], written)
			}
			if l.secret.TTL != 10*time.Minute || l.secret.MaxTTL != time.Hour {
				t.Errorf("creds/dyn read %d: lease TTL %v max %v, want the role's 10m and 1h", i+1, l.secret.TTL, l.secret.MaxTTL)
			}
			e.expectWorks("creds/dyn read "+subject, l.token, subject)
			e.expectHolds(subject, expected)
			e.expectLiveTokens(subject, 1)
		}
		if robots[0] == robots[1] {
			t.Fatalf("two creds reads made the same robot %q", robots[0])
		}

		// ---- renew keeps the robot and its bindings
		r = e.renew(first, 20*time.Minute, first.issueTime)
		if expectOK(t, "renew the first robot's lease +20m", r) && r.Resp != nil && r.Resp.Secret != nil {
			if r.Resp.Secret.TTL != 20*time.Minute {
				t.Errorf("renew +20m: lease TTL %v", r.Resp.Secret.TTL)
			}
		}
		e.expectWorks("after renew", first.token, robots[0])
		e.expectHolds(robots[0], expected)

		// ---- revoke one lease: that robot is gone, the other is untouched
		r = e.revoke(first)
		expectOK(t, "revoke the first robot's lease", r)
		e.expectHolds(robots[0], nil)
		e.expectLiveTokens(robots[0], 0)
		e.expectRejected("the first robot's token after revoke", first.token, codes.Unauthenticated)
		e.expectHolds(robots[1], expected)
		e.expectWorks("the second robot after the first was revoked", second.token, robots[1])
		// Vault retries a revocation whose answer it lost.
		expectOK(t, "revoke the first robot's lease again", e.revoke(first))
		e.expectHolds(robots[1], expected)

		// ---- the lease expires: Vault's expiration manager revokes it
		// after pachd has already dropped the token. The stand-in's clock moves
		// only now (the plugin computes expiries on its own clock).
		third := e.issue("read creds/dyn (third)", e.m.NewRequest(logical.ReadOperation, "creds/dyn", nil))
		robots = append(robots, third.data["subject"].(string))
		e.expectHolds(robots[2], expected)
		if _, err := e.pachd.AdvanceClock(e.ctx, 2*time.Hour); err != nil {
			t.Fatalf("advancing the stand-in clock: %v", err)
		}
		for i, l := range []*lease{second, third} {
			subject := robots[i+1]
			e.expectRejected("past max_ttl, "+subject+"'s token", l.token, codes.OK)
			e.expectHolds(subject, expected) // pachd keeps bindings until someone removes them
			expectOK(t, "revoke the expired lease of "+subject, e.revoke(l))
			e.expectHolds(subject, nil)
			e.expectLiveTokens(subject, 0)
		}

		// ---- nothing left
		if got := e.bindingsSnapshot(); !reflect.DeepEqual(got, before) {
			t.Errorf("pachd's bindings after every lease ended differ from before the first read:\nbefore %v\nafter  %v", before, got)
		}
		for _, tk := range e.tokens() {
			if strings.HasPrefix(tk.Subject, "robot:vault-") && !tk.Expired {
				t.Errorf("a live token of %s is left at pachd", tk.Subject)
			}
		}
		if wal := e.walAfterReleases(); len(wal) != 0 {
			t.Errorf("WAL entries left after every lease ended: %v", wal)
		}
	})
}

// bindingsSnapshot is every binding at pachd, as "type:name principal" ->
// sorted roles.
func (e *engineEnv) bindingsSnapshot() map[string][]string {
	e.t.Helper()
	all, err := e.pachd.Bindings(e.ctx)
	if err != nil {
		e.t.Fatalf("GET /bindings: %v", err)
	}
	out := map[string][]string{}
	for _, res := range all {
		for principal, roles := range res.Entries {
			if len(roles) == 0 {
				continue
			}
			sorted := append([]string(nil), roles...)
			sort.Strings(sorted)
			out[resourceKey(res)+" "+principal] = sorted
		}
	}
	return out
}

func resourceKey(res standin.ResourceBinding) string {
	if res.Type == "cluster" {
		return "cluster"
	}
	return res.Type + ":" + res.Name
}

// expectHolds fails unless principal holds exactly want at pachd (nil:
// nothing), keyed "type:name".
func (e *engineEnv) expectHolds(principal string, want map[string][]string) {
	e.t.Helper()
	held, err := e.pachd.BindingsOf(e.ctx, principal)
	if err != nil {
		e.t.Fatalf("GET /bindings: %v", err)
	}
	got := map[string][]string{}
	for _, res := range held {
		roles := append([]string(nil), res.Entries[principal]...)
		sort.Strings(roles)
		got[resourceKey(res)] = roles
	}
	if want == nil {
		want = map[string][]string{}
	}
	if !reflect.DeepEqual(got, want) {
		e.t.Errorf("%s holds %v at pachd, want %v", principal, got, want)
	}
}

// expectLiveTokens fails unless pachd holds n unexpired tokens for subject.
func (e *engineEnv) expectLiveTokens(subject string, n int) {
	e.t.Helper()
	live := 0
	for _, tk := range e.tokens() {
		if tk.Subject == subject && !tk.Expired {
			live++
		}
	}
	if live != n {
		e.t.Errorf("pachd holds %d live tokens for %s, want %d", live, subject, n)
	}
}

// checkRoleHelp is `vault path-help` on a role path: the help text and the
// path's OpenAPI document must both describe role_bindings and
// robot_name_template.
func (e *engineEnv) checkRoleHelp(path string) {
	t := e.t
	t.Helper()
	r := e.do(e.m.NewRequest(logical.HelpOperation, path, nil))
	if !expectOK(t, "help "+path, r) || r.Resp == nil {
		return
	}
	text, _ := r.Data()["help"].(string)
	for _, want := range []string{"role_bindings (comma-string-list)", "robot_name_template (string)", "repo:default/images=repoReader"} {
		if !strings.Contains(text, want) {
			t.Errorf("help %s: text does not mention %q:\n%s", path, want, text)
		}
	}
	doc, ok := asMap(r.Data()["openapi"])
	if !ok {
		t.Errorf("help %s: no openapi object (%T)", path, r.Data()["openapi"])
		return
	}
	paths, _ := asMap(doc["paths"])
	item, ok := asMap(paths["/roles/{name}"])
	if !ok {
		t.Errorf("help %s: openapi.paths has no /roles/{name} (keys %v)", path, keys(paths))
		return
	}
	post, _ := asMap(item["post"])
	body, _ := asMap(post["requestBody"])
	content, _ := asMap(body["content"])
	media, _ := asMap(content["application/json"])
	schema, _ := asMap(media["schema"])
	props, _ := asMap(schema["properties"])
	for field, typ := range map[string]string{"role_bindings": "array", "robot_name_template": "string"} {
		p, ok := asMap(props[field])
		if !ok {
			t.Errorf("help %s: the POST request schema has no %s (properties %v)", path, field, keys(props))
			continue
		}
		if p["type"] != typ {
			t.Errorf("help %s: %s has type %#v, want %s", path, field, p["type"], typ)
		}
		if desc, _ := p["description"].(string); desc == "" {
			t.Errorf("help %s: %s has no description", path, field)
		}
	}
}

func listKeys(r *harness.Result) []string {
	got, _ := asStrings(r.Data()["keys"])
	return got
}
