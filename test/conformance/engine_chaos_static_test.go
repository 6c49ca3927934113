package conformance

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"pachyderm-vault-plugin/test/conformance/harness"
)

// Static robots in the chaos storm (issue 15 §3). Four static roles are written at setup:
//
//   - loader: rotation_period 1h, no grace; the storm's clients rotate it, read it, and move it
//     between a period and a cron schedule (each change rotates);
//   - etl: rotation_period 1h, rotation_grace 10m; the clients rotate it, read it, and change its
//     grace, its period and its bindings;
//   - sched: rotation_schedule "* * * * *", rotation_grace 20s; no client changes it, so only the
//     rollback ticks rotate it, at each minute that passes during a storm;
//   - tmp: rotation_period 1h, no grace; the clients delete it and write it again.
//
// The engine's shortest period is a minute and a round's storm lasts a few seconds, so a storm
// sees a scheduled rotation only when a minute boundary falls inside it (sched, counted per round
// and logged; the run requires none). What the ticks always do during a storm is retire replaced
// tokens and finish what the kills interrupted; the rotations counted per round are mostly the
// clients' (rotate-role, schedule and grace changes, rewrites).
//
// Checked during the storm: the token static-creds serves works at pachd (a rejection is excused
// only when the role has served another token since), and after a rotate-role of a role with a
// grace the token it replaced still works. Checked after each round, once quiescent: each static
// role's subject has exactly its current token alive at pachd plus at most the one it replaced,
// and only while that one's grace lasts; the robot holds exactly the role's bindings; a deleted
// role's robot holds nothing; a role is not left due with pachd healthy.

const (
	chaosStaticGrace = "10m"
	// chaosStaticRotated is the engine's log message for every rotation of a static robot's token
	// (static-rotation.ts), and chaosStaticAutomated for the end of one the tick began
	// (static-scheduler.ts).
	chaosStaticRotated   = "static robot token rotated"
	chaosStaticAutomated = "automated rotation of a static robot's token done"
	chaosStaticFailed    = "automated rotation of a static robot's token failed"
)

// chaosStaticRole is one static role of the storm and what the test knows of it.
type chaosStaticRole struct {
	name, subject string
	// bindings: the sets the role is written with, as written and as pachd holds them.
	bindings []chaosBindings
	// Rotations by clients hold mu; reads that judge a token hold it shared, so that the
	// token they read is not replaced under them by another client.
	mu sync.RWMutex
}

type chaosStatic struct {
	roles map[string]*chaosStaticRole
	// Token reads that pachd accepted, that it rejected after the role had moved on, and that a
	// fault kept from being judged; replaced tokens checked inside their grace.
	verified, superseded, unjudged, graceChecked atomic.Int64
	// Rotations of static robots' tokens during the storms (the host log's).
	stormRotations int
}

func chaosStaticBindings(generation int) (images, other chaosBindings) {
	if generation == 1 {
		return chaosBindings{written: []string{"repo:images=repoReader"}, held: map[string][]string{"repo:images": {"READER"}}},
			chaosBindings{written: []string{"repo:edges=repoWriter"}, held: map[string][]string{"repo:edges": {"WRITER"}}}
	}
	return chaosBindings{written: []string{"repo:default/images=repoReader"}, held: map[string][]string{"repo:default/images": {"repoReader"}}},
		chaosBindings{
			written: []string{"repo:edges=repoWriter", "project:default=projectViewer"},
			held:    map[string][]string{"repo:default/edges": {"repoWriter"}, "project:default": {"projectViewer"}},
		}
}

// setupStatic writes the storm's static roles.
func (c *chaos) setupStatic() {
	images, other := chaosStaticBindings(c.e.gen.generation)
	c.static = &chaosStatic{roles: map[string]*chaosStaticRole{}}
	for _, r := range []struct {
		role *chaosStaticRole
		body map[string]interface{}
	}{
		{&chaosStaticRole{name: "loader", bindings: []chaosBindings{images}}, map[string]interface{}{"rotation_period": "1h"}},
		{&chaosStaticRole{name: "etl", bindings: []chaosBindings{images, other}}, map[string]interface{}{"rotation_period": "1h", "rotation_grace": chaosStaticGrace}},
		{&chaosStaticRole{name: "sched", bindings: []chaosBindings{other}}, map[string]interface{}{"rotation_schedule": "* * * * *", "rotation_grace": "20s"}},
		{&chaosStaticRole{name: "tmp", bindings: []chaosBindings{images}}, map[string]interface{}{"rotation_period": "1h"}},
	} {
		r.role.subject = "robot:chaos-" + r.role.name
		r.body["subject"] = r.role.subject
		r.body["role_bindings"] = strings.Join(r.role.bindings[0].written, ",")
		if w := c.e.write("static-roles/"+r.role.name, r.body); !expectOK(c.t, "static role "+r.role.name, w) {
			c.t.FailNow()
		}
		c.static.roles[r.role.name] = r.role
	}
}

// operateStatic is one client operation on the static roles.
func (c *chaos) operateStatic(rng *rand.Rand) {
	switch roll := rng.Intn(100); {
	case roll < 40:
		c.readStatic(c.static.roles[[]string{"loader", "etl", "sched", "tmp"}[rng.Intn(4)]])
	case roll < 65:
		c.rotateStatic(c.static.roles[[]string{"loader", "etl", "etl", "tmp"}[rng.Intn(4)]])
	case roll < 88:
		c.rewriteStatic(rng)
	default:
		c.deleteOrRecreateStatic()
	}
}

// staticToken reads static-creds/<name>: its token, or "" when the read failed.
func (c *chaos) staticToken(op, name string) string {
	r := c.do(logical.ReadOperation, "static-creds/"+name, nil, nil)
	c.count(op, r)
	if r.Err != nil || r.Resp == nil {
		return ""
	}
	token, _ := r.Data()["token"].(string)
	if token != "" {
		c.e.mu.Lock()
		c.e.issued = append(c.e.issued, token)
		c.e.mu.Unlock()
	}
	return token
}

// whoIs asks pachd about token: its subject, false when pachd rejected it, and an error when
// a fault (latency, an injected error, an outage) kept pachd from judging it.
func (c *chaos) whoIs(token string) (string, bool, error) {
	who, err := c.e.whoAmI(token)
	if err == nil {
		return who.Username, true, nil
	}
	if status.Code(err) == codes.Unauthenticated {
		return "", false, nil
	}
	return "", false, err
}

// readStatic reads a role's token as a consumer does and uses it at pachd at once.
func (c *chaos) readStatic(role *chaosStaticRole) {
	role.mu.RLock()
	defer role.mu.RUnlock()
	token := c.staticToken("static-creds", role.name)
	if token == "" {
		return
	}
	subject, accepted, err := c.whoIs(token)
	switch {
	case err != nil:
		c.static.unjudged.Add(1)
	case accepted && subject != role.subject:
		c.t.Errorf("static-creds/%s served a token pachd says is %q's, want %q's", role.name, subject, role.subject)
	case accepted:
		c.static.verified.Add(1)
	default:
		// Only a rotation the tick began can replace it here (sched on its schedule, another after a
		// failed rotation's backoff): a role still serving the token pachd rejects is wrong.
		if again := c.staticToken("static-creds", role.name); again == token {
			c.t.Errorf("static-creds/%s serves a token pachd rejects (%s)", role.name, fingerprint(token))
			c.explain(hashToken(token))
		} else {
			c.static.superseded.Add(1)
		}
	}
}

// rotateStatic is rotate-role; with a grace, the token it replaced must still work.
func (c *chaos) rotateStatic(role *chaosStaticRole) {
	role.mu.Lock()
	defer role.mu.Unlock()
	before := c.staticToken("static-read", role.name)
	logFrom := c.e.cat.Log.Len()
	r := c.do(logical.UpdateOperation, "rotate-role/"+role.name, nil, nil)
	c.count("rotate-role", r)
	if r.Err != nil || before == "" || role.name != "etl" {
		return
	}
	after := c.staticToken("static-read", role.name)
	if after == before {
		c.t.Errorf("rotate-role/%s answered %d and static-creds still serves the token it had before", role.name, r.Status)
		return
	}
	_, accepted, err := c.whoIs(before)
	if err != nil {
		c.static.unjudged.Add(1)
		return
	}
	c.static.graceChecked.Add(1)
	if !accepted && !c.tickRotated(role.name, logFrom) {
		c.t.Errorf("the token rotate-role/%s replaced (%s) is rejected by pachd inside its rotation_grace of %s", role.name, fingerprint(before), chaosStaticGrace)
		c.explain(hashToken(before))
	}
}

// tickRotated: whether the host log shows, since from, a rotation of the role the tick began (which
// revokes a token still in its grace at once, as a second rotation does).
func (c *chaos) tickRotated(name string, from int) bool {
	// The plugin's lines reach the host log through its stderr, a moment after the answer.
	time.Sleep(100 * time.Millisecond)
	for _, line := range strings.Split(c.e.cat.Log.String()[from:], "\n") {
		if strings.Contains(line, chaosStaticAutomated) && strings.Contains(line, `"role":"`+name+`"`) {
			return true
		}
	}
	return false
}

// rewriteStatic changes a role's schedule, grace or bindings (a schedule or grace change rotates).
func (c *chaos) rewriteStatic(rng *rand.Rand) {
	var role *chaosStaticRole
	var body map[string]interface{}
	if rng.Intn(2) == 0 {
		role = c.static.roles["loader"]
		body = []map[string]interface{}{
			{"rotation_period": "1h", "rotation_schedule": ""},
			{"rotation_period": "90m", "rotation_schedule": ""},
			{"rotation_schedule": "0 */2 * * *", "rotation_period": "0"},
		}[rng.Intn(3)]
	} else {
		role = c.static.roles["etl"]
		body = []map[string]interface{}{
			{"rotation_grace": "5m"}, {"rotation_grace": chaosStaticGrace}, {"rotation_period": "2h"}, {"rotation_period": "1h"},
			{"role_bindings": strings.Join(role.bindings[rng.Intn(2)].written, ",")},
		}[rng.Intn(5)]
	}
	role.mu.Lock()
	defer role.mu.Unlock()
	c.count("static-write", c.do(logical.UpdateOperation, "static-roles/"+role.name, body, nil))
}

// deleteOrRecreateStatic deletes tmp when it exists and writes it again when it does not.
func (c *chaos) deleteOrRecreateStatic() {
	role := c.static.roles["tmp"]
	role.mu.Lock()
	defer role.mu.Unlock()
	read := c.do(logical.ReadOperation, "static-roles/tmp", nil, nil)
	switch {
	case read.Err == nil && read.Resp != nil && read.Resp.Data != nil:
		c.count("static-delete", c.do(logical.DeleteOperation, "static-roles/tmp", nil, nil))
	case read.Status == 404 || (read.Err == nil && (read.Resp == nil || read.Resp.Data == nil)):
		c.count("static-create", c.do(logical.UpdateOperation, "static-roles/tmp", map[string]interface{}{
			"subject": role.subject, "rotation_period": "1h", "role_bindings": strings.Join(role.bindings[0].written, ","),
		}, nil))
	}
}

// countStaticRotations counts the round's rotations of static robots in the host log: during the
// storm by role, those the tick began by reason, and those of the quiescent ticks. The run's
// storms must have some (checked at its end: under heavy faults one round's may have none).
func (c *chaos) countStaticRotations(round, from, stormEnd int) {
	log := c.e.cat.Log.String()
	byRole, automated := staticRotations(log[from:stormEnd])
	quietRoles, quietAutomated := staticRotations(log[stormEnd:])
	total := 0
	for _, n := range byRole {
		total += n
	}
	c.static.stormRotations += total
	c.t.Logf("round %d static rotations: during the storm %d, by role %v, begun by the tick %v; at the quiescent ticks %v %v; storms so far %d; "+
		"token reads accepted %d, rejected after the role moved on %d, unjudged (faults) %d; replaced tokens checked in their grace %d",
		round, total, byRole, automated, quietRoles, quietAutomated, c.static.stormRotations,
		c.static.verified.Load(), c.static.superseded.Load(), c.static.unjudged.Load(), c.static.graceChecked.Load())
}

// checkStormStaticRotations: the run's storms rotated static robots' tokens.
func (c *chaos) checkStormStaticRotations() {
	if c.static.stormRotations == 0 {
		c.t.Errorf("no static robot's token was rotated during the storms")
	}
}

// staticRotations counts the log's rotations of static robots by role, and those the tick began
// (or failed) by role and reason.
func staticRotations(text string) (map[string]int, map[string]int) {
	byRole, automated := map[string]int{}, map[string]int{}
	for _, line := range strings.Split(text, "\n") {
		role := ""
		if m := chaosRoleField.FindStringSubmatch(line); m != nil {
			role = m[1]
		}
		switch {
		case strings.Contains(line, chaosStaticRotated):
			byRole[role]++
		case strings.Contains(line, chaosStaticAutomated):
			reason := "unknown"
			if m := chaosReason.FindStringSubmatch(line); m != nil {
				reason = m[1]
			}
			automated[role+" "+reason]++
		case strings.Contains(line, chaosStaticFailed):
			automated[role+" failed"]++
		}
	}
	return byRole, automated
}

// storedStatic is the part of a stored static role (static-role/<name>) the invariants read.
type storedStatic struct {
	Subject string `json:"subject"`
	Current *struct {
		Token string `json:"token"`
	} `json:"current"`
	Retiring []struct {
		Token    string `json:"token"`
		RevokeAt string `json:"revoke_at"`
	} `json:"retiring"`
	Grace    int  `json:"rotation_grace_seconds"`
	Deleting bool `json:"deleting"`
}

func (c *chaos) loadStatic(m *harness.Mount, name string) *storedStatic {
	entry, err := m.Storage.Get(c.ctx, "static-role/"+name)
	if err != nil {
		c.t.Fatalf("reading static-role/%s: %v", name, err)
	}
	if entry == nil {
		return nil
	}
	var role storedStatic
	if err := json.Unmarshal(entry.Value, &role); err != nil {
		c.t.Fatalf("decoding static-role/%s: %v", name, err)
	}
	return &role
}

// staticCovered adds every token a static role holds (current, retiring) to covered.
func (c *chaos) staticCovered(m *harness.Mount, covered map[string]string) {
	for name := range c.static.roles {
		if role := c.loadStatic(m, name); role != nil {
			if role.Current != nil {
				covered[hashToken(role.Current.Token)] = "a static role (current)"
			}
			for _, r := range role.Retiring {
				covered[hashToken(r.Token)] = "a static role (in its grace)"
			}
		}
	}
}

// checkStatic is the round's invariants of static robots, after the quiescent ticks that began
// at tickedAt: each robot has its current token alive plus at most the one it replaced, inside
// that one's grace; it holds the role's bindings; a deleted role's robot holds nothing.
func (c *chaos) checkStatic(round int, tickedAt time.Time) {
	t := c.t
	m := c.current()
	live, err := c.e.pachd.Tokens(c.ctx)
	if err != nil {
		t.Fatalf("GET /tokens: %v", err)
	}
	alive := map[string][]string{}
	for _, tk := range live {
		if !tk.Expired {
			alive[tk.Subject] = append(alive[tk.Subject], tk.Hash)
		}
	}
	names := make([]string, 0, len(c.static.roles))
	for name := range c.static.roles {
		names = append(names, name)
	}
	sort.Strings(names)
	var summary []string
	for _, name := range names {
		role := c.static.roles[name]
		held := c.heldBy(role.subject)
		got := append([]string(nil), alive[role.subject]...)
		sort.Strings(got)
		read := c.do(logical.ReadOperation, "static-roles/"+name, nil, nil)
		if read.Status == 404 || (read.Err == nil && (read.Resp == nil || read.Resp.Data == nil)) {
			summary = append(summary, name+" deleted")
			if len(got) > 0 || len(held) > 0 {
				t.Errorf("round %d: static role %s is deleted, and its robot %s still has %d live tokens and bindings %v", round, name, role.subject, len(got), held)
			}
			continue
		}
		if read.Err != nil {
			t.Errorf("round %d: read static-roles/%s: %v", round, name, read.Err)
			continue
		}
		data := read.Data()
		stored := c.loadStatic(m, name)
		if stored == nil || data["deleting"] == true {
			t.Errorf("round %d: static role %s reads back but is not stored or is still being deleted (%v)", round, name, data)
			continue
		}
		if stored.Current == nil {
			// Written while pachd failed: the role is kept and its first rotation retried by the
			// tick after a backoff (static-creds says so); nothing of it may be alive meanwhile.
			summary = append(summary, name+" without a token yet")
			if data["last_rotation_error"] == nil || len(got) > 0 || len(stored.Retiring) > 0 {
				t.Errorf("round %d: static role %s has no current token, and error %v, %d live tokens of %s, %d replaced ones stored", round, name, data["last_rotation_error"], len(got), role.subject, len(stored.Retiring))
			}
			continue
		}
		if token := c.staticToken("static-check", name); token != stored.Current.Token {
			t.Errorf("round %d: static-creds/%s does not serve the role's current token", round, name)
		}
		want := []string{hashToken(stored.Current.Token)}
		for _, r := range stored.Retiring {
			want = append(want, hashToken(r.Token))
			if at, err := time.Parse(time.RFC3339Nano, r.RevokeAt); err != nil || !at.After(tickedAt) {
				t.Errorf("round %d: static role %s keeps a replaced token whose grace ended at %s, before the quiescent ticks of %s", round, name, r.RevokeAt, tickedAt.Format(time.RFC3339Nano))
			}
		}
		sort.Strings(want)
		if len(stored.Retiring) > 1 || (stored.Grace == 0 && len(stored.Retiring) > 0) {
			t.Errorf("round %d: static role %s (grace %ds) keeps %d replaced tokens, want at most one and none without a grace", round, name, stored.Grace, len(stored.Retiring))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round %d: %s has %d live tokens at pachd, want exactly its current one and %d in its grace", round, role.subject, len(got), len(stored.Retiring))
			for _, h := range got {
				c.explain(h)
			}
		}
		if set := role.bindingSet(data["role_bindings"]); set == nil {
			t.Errorf("round %d: static role %s reads back role_bindings %v, none of the sets the storm writes", round, name, data["role_bindings"])
		} else if !reflect.DeepEqual(held, set.held) && !(len(held) == 0 && len(set.held) == 0) {
			t.Errorf("round %d: %s holds %v at pachd, want its role's %v", round, role.subject, held, set.held)
		}
		if next, _ := data["next_rotation"].(string); next != "" {
			if at, err := time.Parse(time.RFC3339Nano, next); err == nil && at.Before(tickedAt) {
				t.Errorf("round %d: static role %s was due at %s and the quiescent ticks left it so (failures %v, last error %v)", round, name, next, data["rotation_failures"], data["last_rotation_error"])
			}
		}
		summary = append(summary, fmt.Sprintf("%s %d live (%d in grace)", name, len(got), len(stored.Retiring)))
	}
	t.Logf("round %d static robots: %s", round, strings.Join(summary, ", "))
}

// bindingSet is the set of the role's bindings that role_bindings (as read back) names.
func (role *chaosStaticRole) bindingSet(readBack interface{}) *chaosBindings {
	var got []string
	switch v := readBack.(type) {
	case string:
		if v != "" {
			got = strings.Split(v, ",")
		}
	case []interface{}:
		for _, s := range v {
			got = append(got, fmt.Sprint(s))
		}
	}
	sort.Strings(got)
	for i := range role.bindings {
		want := append([]string(nil), role.bindings[i].written...)
		sort.Strings(want)
		if reflect.DeepEqual(got, want) {
			return &role.bindings[i]
		}
	}
	return nil
}

// heldBy is what principal holds at pachd, by resource ("repo:default/images").
func (c *chaos) heldBy(principal string) map[string][]string {
	held, err := c.e.pachd.BindingsOf(c.ctx, principal)
	if err != nil {
		c.t.Fatalf("GET /bindings: %v", err)
	}
	out := map[string][]string{}
	for _, res := range held {
		roles := append([]string(nil), res.Entries[principal]...)
		sort.Strings(roles)
		out[resourceKey(res)] = roles
	}
	return out
}

// drainStatic ends the run as an operator retiring static robots does: every static role deleted,
// and then none of their robots holds a token or a binding.
func (c *chaos) drainStatic() {
	t := c.t
	for name, role := range c.static.roles {
		var r *harness.Result
		for attempt := 0; attempt < 3; attempt++ {
			if r = c.do(logical.DeleteOperation, "static-roles/"+name, nil, nil); r.Err == nil {
				break
			}
		}
		if r.Err != nil {
			t.Errorf("drain: delete static-roles/%s: %v", name, r.Err)
		}
		live := 0
		tokens, err := c.e.pachd.Tokens(c.ctx)
		if err != nil {
			t.Fatalf("GET /tokens: %v", err)
		}
		for _, tk := range tokens {
			if tk.Subject == role.subject && !tk.Expired {
				live++
			}
		}
		if held := c.heldBy(role.subject); live > 0 || len(held) > 0 {
			t.Errorf("drain: after static-roles/%s was deleted, %s has %d live tokens and bindings %v", name, role.subject, live, held)
		}
	}
}
