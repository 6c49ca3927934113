package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"pachyderm-vault-plugin/test/conformance/harness"
	"pachyderm-vault-plugin/test/conformance/standin"
)

// TestEngineNeighbours: several mounts of build/pachyderm served by ONE
// plugin process (Vault multiplexes the mounts of a plugin onto one process,
// each mount's calls carrying its own multiplex_id), one of them hostile.
// The hostile mount's operator keeps rewriting its config with
// verify_connection=false and crafted admin tokens (JSON fragments, log
// keys, regex syntax, words every answer holds, the other mounts' role names
// and subjects, unicode, 1024 characters), and writes roles with crafted
// names and subjects, while the well-behaved mounts issue (creds/<role>,
// login), renew and revoke concurrently against the pachd stand-in. Leases
// are registered by harness.Expiration as Vault's expiration manager would.
//
// Invariants, each counted and reported:
//
//  1. every answer of a well-behaved mount decodes; a creds/login answer's
//     data is an object with user_token, subject and pachd_address, and it
//     carries a lease that was registered;
//  2. every token alive at pachd is the admin token of some mount, or under
//     a registered lease, or under a WAL entry of some mount;
//  3. every line the plugin logged (its stderr, re-logged by the host) is a
//     JSON object with @level, @message and @timestamp;
//  4. nothing of one mount appears in another's answers: no answer or error
//     text of any mount holds another mount's admin token (a hostile value
//     that the well-behaved mount's own answers hold anyway, such as
//     "pachd_address", is judged by the next check only), and no answer of a
//     well-behaved mount is altered ("[REDACTED]" in none, the subject and
//     address the ones asked for, the token one pachd minted for that
//     subject);
//  5. after every lease is revoked (and the rollback run), no token of a
//     well-behaved mount is alive at pachd.
//
// It runs for each pachd generation and each repertoire of crafted admin
// tokens (repertoireWords, repertoireSyntax), each run with its own stand-in
// and plugin process. The seed (printed; NEIGHBOURS_SEED reruns it) fixes
// each client's operations and the hostile sequence; how they interleave
// depends on timing. NEIGHBOURS_CLIENTS (3 per well-behaved mount) and
// NEIGHBOURS_OPS (25 per client) scale it; a storm stops after 25 s
// whatever the counts.
// NEIGHBOURS_BENIGN=1 is the control: the third mount writes inert values
// instead, and every invariant must then hold.
func TestEngineNeighbours(t *testing.T) {
	seed := envInt64("NEIGHBOURS_SEED", time.Now().UnixNano())
	clients := int(envInt64("NEIGHBOURS_CLIENTS", 3))
	ops := int(envInt64("NEIGHBOURS_OPS", 25))
	benign := os.Getenv("NEIGHBOURS_BENIGN") == "1"
	if benign {
		t.Logf("NEIGHBOURS_BENIGN=1: the control run; the third mount writes inert admin tokens and roles")
	}
	t.Logf("neighbours seed %d (rerun with NEIGHBOURS_SEED=%d); %d clients x %d operations per well-behaved mount",
		seed, seed, clients, ops)
	for gi, g := range pachdGenerations {
		for ri, repertoire := range []string{repertoireWords, repertoireSyntax} {
			g, runSeed, repertoire := g, seed+int64(gi)*1_000_003+int64(ri)*7919, repertoire
			t.Run(g.name+"/"+repertoire, func(t *testing.T) {
				neighboursRun(t, g, runSeed, repertoire, benign, clients, ops)
			})
		}
	}
}

func neighboursRun(t *testing.T, g pachdGeneration, seed int64, repertoire string, benign bool, clients, ops int) {
	start := time.Now()
	n := newNeighbours(t, g, seed)
	n.benign, n.repertoire = benign, repertoire
	n.baseline()
	n.storm(clients, ops)
	n.quiesce()
	n.checkAnswers()
	n.checkCoverage("after the storm")
	n.checkCrossMount()
	n.drain()
	n.checkLogLines()
	t.Logf("took %v", time.Since(start).Round(time.Millisecond))
}

const (
	neighboursStormBudget = 25 * time.Second
	neighboursHostileMax  = 400 // hostile requests at most
	neighboursRequestTime = 15 * time.Second
	neighboursDrainBudget = 20 * time.Second
)

// nbMount is one mount of the shared process.
type nbMount struct {
	name    string // "A", "B", "H"
	m       *harness.Mount
	hostile bool
	// address is the canonical pachd address the mount's config holds.
	address string
	// roles: role name -> subject; logins: subjects for login.
	roles  map[string]string
	logins []string

	mu sync.Mutex
	// adminTokens: every value stored as this mount's admin_token.
	adminTokens map[string]bool
	// vocabulary: strings of this mount's own answers before the hostile
	// mount wrote anything.
	vocabulary string
}

func (m *nbMount) addAdminToken(v string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.adminTokens[strings.TrimSpace(v)] = true
}

func (m *nbMount) admins() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.adminTokens))
	for v := range m.adminTokens {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// nbAnswer is one request and its outcome.
type nbAnswer struct {
	mount   *nbMount
	op      string // creds, login, renew, revoke, read, config, role, rollback
	phase   string // baseline, storm, drain
	r       *harness.Result
	subject string // creds, login: the subject asked for
	lease   *harness.Lease
	regErr  error
}

type neighbours struct {
	t          *testing.T
	ctx        context.Context
	seed       int64
	gen        pachdGeneration
	cat        *harness.Catalog
	pachd      *standin.Standin
	exp        *harness.Expiration
	pluginPath string
	// benign: the control run, in which the "hostile" operator writes inert values.
	benign     bool
	repertoire string
	mounts     []*nbMount // well-behaved first, the hostile one last
	good       []*nbMount
	bad        *nbMount

	mu      sync.Mutex
	answers []*nbAnswer
	// hostile: what the hostile operator wrote, by outcome.
	hostileStatus sync.Map // "kind status" -> *int64
}

func newNeighbours(t *testing.T, g pachdGeneration, seed int64) *neighbours {
	t.Helper()
	tg := targetByName(t, targetPachyderm)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	n := &neighbours{t: t, ctx: ctx, seed: seed, gen: g, pluginPath: tg.path,
		exp: harness.NewExpiration()}

	s, err := standin.Start(ctx, standin.Options{Script: standinScript(t), Generation: g.generation, PachdVersion: g.version})
	if err != nil {
		t.Fatalf("starting the pachd stand-in: %v", err)
	}
	n.pachd = s
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping the pachd stand-in: %v", err)
		}
	})

	n.cat = newCatalog(t, hclog.Trace)
	for _, name := range []string{"A", "B", "H"} {
		lower := strings.ToLower(name)
		m := &nbMount{
			name: name, hostile: name == "H", adminTokens: map[string]bool{},
			m: mustMount(t, n.cat, tg, harness.MountOptions{Path: "pachyderm-neighbour-" + lower}),
		}
		if !m.hostile {
			// user:… on 2.x, okta:… on 1.x
			userPrefix := g.userSubject[:strings.IndexByte(g.userSubject, ':')+1]
			m.roles = map[string]string{
				"ci-neighbour-" + lower:  "robot:ci-neighbour-" + lower,
				"svc-neighbour-" + lower: userPrefix + "svc-neighbour-" + lower + "@example.com",
			}
			m.logins = []string{"robot:batch-neighbour-" + lower, userPrefix + "alice-neighbour-" + lower + "@example.com"}
			n.good = append(n.good, m)
		} else {
			n.bad = m
		}
		n.mounts = append(n.mounts, m)
	}

	// One process, one multiplex_id per mount.
	pid := n.mounts[0].m.PID()
	ids := map[string]bool{}
	for _, m := range n.mounts {
		if !m.m.Client.Multiplexed {
			t.Fatalf("mount %s: the plugin did not answer MultiplexingSupport=true; the test needs one process for every mount", m.name)
		}
		if m.m.PID() != pid || pid == 0 {
			t.Fatalf("mount %s is served by process %d, mount A by %d: want one process", m.name, m.m.PID(), pid)
		}
		ids[m.m.MultiplexID()] = true
	}
	if len(ids) != len(n.mounts) || n.cat.Processes() != 1 {
		t.Fatalf("%d mounts, %d multiplex ids, %d processes: want one process, an id per mount", len(n.mounts), len(ids), n.cat.Processes())
	}
	t.Logf("%d mounts in plugin process %d (multiplex ids %v)", len(n.mounts), pid, sortedKeys(ids))

	// A issues with pachd's root token, B with an admin token of its own.
	admins := map[string]string{"A": s.RootToken}
	adminRoles := []string{"clusterAdmin"}
	if g.generation == 1 {
		adminRoles = []string{"SUPER"}
	}
	b, err := s.CreateToken(ctx, "robot:vault-admin-neighbour-b", 7*24*3600, adminRoles)
	if err != nil {
		t.Fatalf("POST /tokens: %v", err)
	}
	admins["B"] = b.Token
	for _, m := range n.good {
		r := n.do(m, "config", "baseline", logical.UpdateOperation, "config", map[string]interface{}{
			"pachd_address": s.PachdAddress, "admin_token": admins[m.name], "ttl": "5m", "max_ttl": "1h",
		})
		if !expectOK(t, "mount "+m.name+": write config", r.r) {
			t.FailNow()
		}
		m.addAdminToken(admins[m.name])
		cfg := n.do(m, "read", "baseline", logical.ReadOperation, "config", nil)
		if mode := cfg.r.Data()["issuance_mode"]; mode != "restore" {
			t.Fatalf("mount %s: issuance_mode = %v: the coverage invariant assumes the engine picks and journals every token", m.name, mode)
		}
		m.address, _ = cfg.r.Data()["pachd_address"].(string)
		for role, subject := range m.roles {
			if r := n.do(m, "role", "baseline", logical.UpdateOperation, "roles/"+role, map[string]interface{}{"subject": subject}); !expectOK(t, "mount "+m.name+": role "+role, r.r) {
				t.FailNow()
			}
		}
	}
	return n
}

// do sends one request to a mount, records it, and registers the lease of
// an issuance as Vault would.
func (n *neighbours) do(m *nbMount, op, phase string, operation logical.Operation, path string, data map[string]interface{}) *nbAnswer {
	ctx, cancel := context.WithTimeout(n.ctx, neighboursRequestTime)
	defer cancel()
	req := m.m.NewRequest(operation, path, data)
	a := &nbAnswer{mount: m, op: op, phase: phase}
	a.r = m.m.Do(ctx, req)
	n.record(a)
	return a
}

func (n *neighbours) record(a *nbAnswer) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.answers = append(n.answers, a)
}

// issue sends creds/<role> or login and registers its lease.
func (n *neighbours) issue(m *nbMount, phase string, rng *rand.Rand) *nbAnswer {
	var a *nbAnswer
	var subject string
	if rng.Intn(2) == 0 {
		roles := sortedMapKeys(m.roles)
		role := roles[rng.Intn(len(roles))]
		subject = m.roles[role]
		a = n.do(m, "creds", phase, logical.ReadOperation, "creds/"+role, nil)
	} else {
		subject = m.logins[rng.Intn(len(m.logins))]
		a = n.do(m, "login", phase, logical.UpdateOperation, "login", map[string]interface{}{"username": subject})
	}
	a.subject = subject
	if a.r.Err == nil {
		a.lease, a.regErr = n.exp.Register(m.m, a.r.Req, a.r.Resp)
	}
	return a
}

// pickLease returns a random registered lease of m, or nil.
func (n *neighbours) pickLease(m *nbMount, rng *rand.Rand) *harness.Lease {
	var mine []*harness.Lease
	for _, l := range n.exp.Leases() {
		if l.Mount == m.m {
			mine = append(mine, l)
		}
	}
	if len(mine) == 0 {
		return nil
	}
	return mine[rng.Intn(len(mine))]
}

func (n *neighbours) renew(m *nbMount, phase string, l *harness.Lease, increment time.Duration) {
	ctx, cancel := context.WithTimeout(n.ctx, neighboursRequestTime)
	defer cancel()
	if r := n.exp.Renew(ctx, l.ID, increment); r != nil {
		n.record(&nbAnswer{mount: m, op: "renew", phase: phase, r: r})
	}
}

func (n *neighbours) revoke(m *nbMount, phase string, l *harness.Lease) *harness.Result {
	ctx, cancel := context.WithTimeout(n.ctx, neighboursRequestTime)
	defer cancel()
	r := n.exp.Revoke(ctx, l.ID)
	if r != nil {
		n.record(&nbAnswer{mount: m, op: "revoke", phase: phase, r: r})
	}
	return r
}

// baseline: each well-behaved mount issues, renews, reads and is refused
// once before the hostile mount writes anything. The strings of these
// answers are the mount's own vocabulary.
func (n *neighbours) baseline() {
	for _, m := range n.good {
		var first []*nbAnswer
		for _, role := range sortedMapKeys(m.roles) {
			a := n.do(m, "creds", "baseline", logical.ReadOperation, "creds/"+role, nil)
			a.subject = m.roles[role]
			first = append(first, a)
		}
		for _, subject := range m.logins {
			a := n.do(m, "login", "baseline", logical.UpdateOperation, "login", map[string]interface{}{"username": subject})
			a.subject = subject
			first = append(first, a)
		}
		for _, a := range first {
			if a.r.Err == nil {
				a.lease, a.regErr = n.exp.Register(m.m, a.r.Req, a.r.Resp)
			}
			if a.lease == nil {
				n.t.Fatalf("mount %s: baseline %s %q gave no lease (%v; %s): the engine fails even without a hostile neighbour",
					m.name, a.op, a.r.Req.Path, a.regErr, a.r)
			}
		}
		n.renew(m, "baseline", first[0].lease, 10*time.Minute)
		n.do(m, "read", "baseline", logical.ReadOperation, "roles/"+sortedMapKeys(m.roles)[0], nil)
		n.do(m, "read", "baseline", logical.ListOperation, "roles", nil)
		n.do(m, "refused", "baseline", logical.UpdateOperation, "login", map[string]interface{}{"username": "pach:root"})
		n.do(m, "refused", "baseline", logical.ReadOperation, "creds/no-such-role", nil)
		r := n.revoke(m, "baseline", first[len(first)-1].lease)
		if r == nil || r.Err != nil {
			n.t.Fatalf("mount %s: baseline revoke failed: %v", m.name, r)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range n.answers {
		if !a.mount.hostile {
			a.mount.vocabulary += "\x00" + strings.Join(answerStrings(a.r), "\x00")
		}
	}
}

// Two repertoires of crafted admin tokens. The engine as built registers
// every admin token it ever stored, of every mount, for the life of the
// process, so the first value that breaks the JSON of answers would hide
// what the others do; each repertoire therefore plays in a process of its
// own.
const (
	// repertoireWords: words and values that answers and log lines hold
	// (field names, the date, the neighbours' role names and subjects),
	// regex syntax, unicode and whitespace (refused), the field's limit.
	repertoireWords = "words"
	// repertoireSyntax: fragments of JSON and of hclog log lines.
	repertoireSyntax = "syntax"
)

// hostileAdminTokens: the values the hostile operator writes as admin_token
// (shuffled by the seed). Some are refused by the engine's field checks
// (whitespace, non-ASCII, longer than 1024): that is recorded, not judged.
func (n *neighbours) hostileAdminTokens() []string {
	var values []string
	switch n.repertoire {
	case repertoireWords:
		values = []string{
			// regex syntax
			`.*+?()[]{}|^$\\`, `(.*)(.*)(.*)`, `$&$&$&$&`, `$1$2$'$'`,
			// words every answer or log line holds
			`pachd_address`, `user_token`, `token_expires_at`, `[REDACTED]`, `example.com`,
			time.Now().UTC().Format("2006-01-02"), `request refused`, `configuration written`, `issued pachd token`,
			// refused: whitespace, unicode
			`pachd address`, "elephant-\U0001F418\U0001F418", "zero\u200bwidth-space", "bidi-\u202eevil\u202c-x",
			// the field's limit and one past it
			strings.Repeat("pachd_address-", 74)[:1024], strings.Repeat("a", 1025),
		}
		// the well-behaved mounts' role names and subjects
		for _, m := range n.good {
			for _, role := range sortedMapKeys(m.roles) {
				values = append(values, role, m.roles[role])
			}
			values = append(values, m.logins...)
		}
	case repertoireSyntax:
		values = []string{
			// fragments of an answer's data
			`{"user_token":"`, `","pachd_address":"`, `","subject":"`, `","token_expires_at":"`, `"subject":`,
			`":"robot:`, `"}"}"}"}`, `\"\"\"\"`, `":null,"`, `"},"x":{"`, `\\\\\\\\`,
			// of a log line
			`"@message":"`, `"@level":"`, `@timestamp`, `"@module":"`, `{"@level":"info"`, `"request refused"`,
			// refused: whitespace
			`{"user_token": "x"}`,
			// the field's limit
			strings.Repeat(`{"user_token":"`, 69)[:1024],
		}
	default:
		n.t.Fatalf("unknown repertoire %q", n.repertoire)
	}
	if n.benign {
		// The control: as many values, inert ones.
		for i := range values {
			values[i] = fmt.Sprintf("inert-admin-token-%08d-%d", n.seed%100000000, i)
		}
	}
	rng := rand.New(rand.NewSource(n.seed + 1))
	rng.Shuffle(len(values), func(i, j int) { values[i], values[j] = values[j], values[i] })
	return values
}

// hostileRoles: role names and subjects the hostile operator writes.
func (n *neighbours) hostileRoles() [][2]string {
	roles := [][2]string{
		{"pachd_address", `user:{"user_token":"x"}`},
		{"user_token", `user:"@message":"`},
		{"subject", `robot:.*+?()[]{}|^$\\`},
		{"token_expires_at", `user:","pachd_address":"`},
		{"emoji", "user:\U0001F418@example.com"},
		{"zwsp", "user:a\u200bb@example.com"},
		{"bidi", "user:\u202eevil@example.com"},
		{"long-subject", "user:" + strings.Repeat("x", 507)},
		{strings.Repeat("r", 128), "robot:long-role-name"},
		{strings.Repeat("r", 129), "robot:too-long-role-name"},
		{"REDACTED", "user:[REDACTED]"},
	}
	for _, m := range n.good {
		for _, role := range sortedMapKeys(m.roles) {
			roles = append(roles, [2]string{role, m.roles[role]}) // the same names and subjects as the neighbour's
		}
	}
	if n.benign {
		for i := range roles {
			roles[i] = [2]string{fmt.Sprintf("inert-role-%d", i), fmt.Sprintf("robot:inert-%d", i)}
		}
	}
	rng := rand.New(rand.NewSource(n.seed + 2))
	rng.Shuffle(len(roles), func(i, j int) { roles[i], roles[j] = roles[j], roles[i] })
	return roles
}

func (n *neighbours) countHostile(kind string, r *harness.Result) {
	key := fmt.Sprintf("%-7s %d", kind, r.Status)
	v, _ := n.hostileStatus.LoadOrStore(key, new(int64))
	atomic.AddInt64(v.(*int64), 1)
}

// hostile runs the hostile operator until stop or its request bound: config
// writes with crafted admin tokens (verify_connection=false), crafted roles,
// and reads of its own creds and login, which fail at pachd. Every crafted
// admin token is written at least once; firstPass is closed then, and the
// operator goes on rewriting its config until stop.
func (n *neighbours) hostile(stop <-chan struct{}, firstPass chan<- struct{}) {
	h := n.bad
	rng := rand.New(rand.NewSource(n.seed + 3))
	tokens := n.hostileAdminTokens()
	roles := n.hostileRoles()
	closed := fmt.Sprintf("127.0.0.1:%d", closedPort(n.t))
	next := 0
	for i := 0; i < neighboursHostileMax; i++ {
		select {
		case <-stop:
			return
		default:
		}
		switch roll := rng.Intn(10); {
		case roll < 5:
			value := tokens[next%len(tokens)]
			next++
			address := n.pachd.PachdAddress
			if rng.Intn(5) == 0 {
				address = closed
			}
			a := n.do(h, "config", "storm", logical.UpdateOperation, "config", map[string]interface{}{
				"pachd_address": address, "admin_token": value, "verify_connection": false,
			})
			n.countHostile("config", a.r)
			if a.r.Err == nil && !a.r.Resp.IsError() {
				h.addAdminToken(value)
			}
			if next == len(tokens) {
				close(firstPass)
			}
		case roll < 7:
			role := roles[rng.Intn(len(roles))]
			a := n.do(h, "role", "storm", logical.UpdateOperation, "roles/"+role[0], map[string]interface{}{"subject": role[1]})
			n.countHostile("role", a.r)
		case roll < 8:
			role := roles[rng.Intn(len(roles))]
			n.countHostile("creds", n.do(h, "creds", "storm", logical.ReadOperation, "creds/"+role[0], nil).r)
		case roll < 9:
			role := roles[rng.Intn(len(roles))]
			n.countHostile("login", n.do(h, "login", "storm", logical.UpdateOperation, "login", map[string]interface{}{"username": role[1]}).r)
		default:
			n.countHostile("read", n.do(h, "read", "storm", logical.ReadOperation, []string{"config", "roles/subject", "roles/pachd_address"}[rng.Intn(3)], nil).r)
		}
		time.Sleep(time.Duration(2+rng.Intn(20)) * time.Millisecond)
	}
	if next < len(tokens) {
		n.t.Errorf("the hostile operator wrote %d of its %d admin tokens within its %d requests", next, len(tokens), neighboursHostileMax)
		close(firstPass)
	}
}

// storm runs the well-behaved clients and the hostile operator together:
// each client runs at least ops operations, and goes on until the hostile
// operator has written every crafted admin token (at most 8*ops operations,
// and no longer than the storm's budget).
func (n *neighbours) storm(clients, ops int) {
	start := time.Now()
	deadline := start.Add(neighboursStormBudget)
	stop := make(chan struct{})
	firstPass := make(chan struct{})
	var hostile sync.WaitGroup
	hostile.Add(1)
	go func() { defer hostile.Done(); n.hostile(stop, firstPass) }()
	// The hostile operator's first writes land before the clients start.
	time.Sleep(100 * time.Millisecond)

	var wg sync.WaitGroup
	var done atomic.Int64
	for mi, m := range n.good {
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func(m *nbMount, rng *rand.Rand) {
				defer wg.Done()
				for op := 0; op < 8*ops && time.Now().Before(deadline); op++ {
					if op >= ops {
						select {
						case <-firstPass:
							return
						default:
						}
					}
					done.Add(1)
					switch roll := rng.Intn(100); {
					case roll < 55:
						n.issue(m, "storm", rng)
					case roll < 75:
						if l := n.pickLease(m, rng); l != nil {
							n.renew(m, "storm", l, time.Duration(1+rng.Intn(10))*time.Minute)
						}
					case roll < 90:
						if l := n.pickLease(m, rng); l != nil {
							n.revoke(m, "storm", l)
						}
					default:
						roles := sortedMapKeys(m.roles)
						n.do(m, "read", "storm", logical.ReadOperation, []string{"config", "roles/" + roles[rng.Intn(len(roles))]}[rng.Intn(2)], nil)
					}
				}
			}(m, rand.New(rand.NewSource(n.seed+100+int64(mi*1000+c))))
		}
	}
	wg.Wait()
	close(stop)
	hostile.Wait()

	var lines []string
	n.hostileStatus.Range(func(k, v interface{}) bool {
		lines = append(lines, fmt.Sprintf("  %s: %d", k, atomic.LoadInt64(v.(*int64))))
		return true
	})
	sort.Strings(lines)
	n.t.Logf("storm: %v, %d well-behaved operations; hostile requests (kind, status, count):\n%s\n  hostile admin tokens stored: %d",
		time.Since(start).Round(time.Millisecond), done.Load(), strings.Join(lines, "\n"), len(n.bad.admins()))
}

// quiesce waits out the engine's half-second hold of an issuance's WAL
// entry, then runs each mount's rollback as Vault's rollback manager would
// once the WAL grace passed.
func (n *neighbours) quiesce() {
	time.Sleep(issuanceReleaseGrace)
	for _, m := range n.mounts {
		a := n.do(m, "rollback", "drain", logical.RollbackOperation, "", map[string]interface{}{"immediate": true})
		if a.r.Err != nil && !m.hostile {
			n.t.Logf("mount %s: rollback: %v", m.name, a.r.Err)
		}
	}
}

// decodeError: the host could not decode the plugin's answer.
func decodeError(err error) bool {
	if err == nil {
		return false
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syntax) || errors.As(err, &typ) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "invalid character") || strings.Contains(s, "unexpected end of JSON input") ||
		strings.Contains(s, "cannot unmarshal")
}

var pachdTokenShape = regexp.MustCompile(`^[0-9a-f]{32}$`)

// checkAnswers: invariant 1, and the "altered" half of invariant 4.
func (n *neighbours) checkAnswers() {
	t := n.t
	history, err := n.pachd.TokenHistory(n.ctx)
	if err != nil {
		t.Fatalf("GET /tokens/history: %v", err)
	}
	minted := map[string]string{}
	for _, h := range history {
		minted[h.Hash] = h.Subject
	}
	n.mu.Lock()
	answers := append([]*nbAnswer(nil), n.answers...)
	n.mu.Unlock()

	type failure struct {
		count    int
		examples []string
	}
	undecodable, lacking, noLease, refused := map[string]*failure{}, map[string]*failure{}, map[string]*failure{}, map[string]*failure{}
	altered := map[string]*failure{}
	note := func(set map[string]*failure, a *nbAnswer, what string) {
		key := a.op
		f := set[key]
		if f == nil {
			f = &failure{}
			set[key] = f
		}
		f.count++
		if len(f.examples) < 2 {
			f.examples = append(f.examples, fmt.Sprintf("mount %s %s %s %q: %s", a.mount.name, a.phase, a.r.Req.Operation, a.r.Req.Path, what))
		}
	}
	total, issuances, good, leaseless := 0, 0, 0, 0
	var leaselessExamples []string
	for _, a := range answers {
		if a.mount.hostile || a.op == "refused" || a.op == "rollback" {
			continue
		}
		total++
		r := a.r
		issuance := a.op == "creds" || a.op == "login"
		if issuance {
			issuances++
			if a.lease == nil {
				leaseless++
				if len(leaselessExamples) < 2 {
					why := fmt.Sprint(a.regErr)
					if a.r.Err != nil {
						why = "the host got an error: " + a.r.Err.Error()
					}
					leaselessExamples = append(leaselessExamples, fmt.Sprintf("mount %s %s %q: %s", a.mount.name, a.op, a.r.Req.Path, truncateRunes(why, 200)))
				}
			}
		}
		switch {
		case decodeError(r.Err):
			note(undecodable, a, fmt.Sprintf("the host could not decode the answer: %v", r.Err))
			continue
		case r.Err != nil || (r.Resp != nil && r.Resp.IsError()):
			note(refused, a, fmt.Sprintf("status %d: %.300s", r.Status, errorText(r)))
			continue
		}
		bad := false
		for _, s := range answerStrings(r) {
			if strings.Contains(s, "[REDACTED]") {
				note(altered, a, fmt.Sprintf("the answer holds %q", truncateRunes(s, 200)))
				bad = true
				break
			}
		}
		switch a.op {
		case "creds", "login":
			d := r.Data()
			token, okT := d["user_token"].(string)
			subject, okS := d["subject"].(string)
			address, okA := d["pachd_address"].(string)
			if !okT || !okS || !okA {
				note(lacking, a, fmt.Sprintf("data lacks user_token, subject or pachd_address: %s", truncateRunes(harness.DescribeResponse(r.Resp), 300)))
				continue
			}
			if a.lease == nil {
				bad = true
			}
			if !bad {
				switch {
				case subject != a.subject:
					note(altered, a, fmt.Sprintf("subject %q, asked for %q", subject, a.subject))
					bad = true
				case address != a.mount.address:
					note(altered, a, fmt.Sprintf("pachd_address %q, the mount's is %q", address, a.mount.address))
					bad = true
				case !pachdTokenShape.MatchString(token):
					note(altered, a, fmt.Sprintf("user_token %q is not a pachd token", truncateRunes(token, 80)))
					bad = true
				case minted[hashToken(token)] != a.subject:
					note(altered, a, fmt.Sprintf("pachd minted no token %s for %q (its history says %q)", fingerprint(token), a.subject, minted[hashToken(token)]))
					bad = true
				}
			}
		case "renew":
			if r.Resp == nil || r.Resp.Secret == nil {
				note(noLease, a, "the renewal's answer carries no secret")
				bad = true
			}
		}
		if !bad {
			good++
		}
	}
	report := func(what string, set map[string]*failure) int {
		sum := 0
		for _, op := range sortedMapKeys(set) {
			f := set[op]
			sum += f.count
			t.Errorf("well-behaved answers: %d %s answers %s; e.g.\n    %s", f.count, op, what, strings.Join(f.examples, "\n    "))
		}
		return sum
	}
	u := report("did not decode", undecodable)
	l := report("lack user_token/subject/pachd_address", lacking)
	nl := report("carry no secret", noLease)
	if leaseless > 0 {
		t.Errorf("well-behaved answers: %d of %d creds/login answers left the host without a registered lease; e.g.\n    %s",
			leaseless, issuances, strings.Join(leaselessExamples, "\n    "))
	}
	rf := report("were refused or failed", refused)
	al := report("are altered", altered)
	t.Logf("invariant 1 (well-behaved answers decode; creds/login with a lease): %d answers, %d creds/login; "+
		"%d undecodable, %d lacking user_token/subject/pachd_address, %d renewals without a secret, "+
		"%d creds/login without a registered lease, %d refused/failed",
		total, issuances, u, l, nl, leaseless, rf)
	t.Logf("invariant 4b (no well-behaved answer altered): %d altered; %d answers passed every check", al, good)
}

func sortedMapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// answerStrings: every string a client could see of an answer: the error
// texts, warnings, and every key and string value of the data.
func answerStrings(r *harness.Result) []string {
	var out []string
	if r.Err != nil {
		out = append(out, r.Err.Error())
	}
	if r.StatusErr != nil {
		out = append(out, r.StatusErr.Error())
	}
	if r.ExistenceErr != nil {
		out = append(out, r.ExistenceErr.Error())
	}
	if r.Resp == nil {
		return out
	}
	out = append(out, r.Resp.Warnings...)
	var walk func(v interface{})
	walk = func(v interface{}) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case map[string]interface{}:
			for k, e := range x {
				out = append(out, k)
				walk(e)
			}
		case []interface{}:
			for _, e := range x {
				walk(e)
			}
		case []string:
			out = append(out, x...)
		case nil:
		default:
			out = append(out, fmt.Sprint(x))
		}
	}
	walk(r.Resp.Data)
	for k, vs := range r.Resp.Headers {
		out = append(out, k)
		out = append(out, vs...)
	}
	return out
}

// checkCoverage: invariant 2.
func (n *neighbours) checkCoverage(when string) {
	t := n.t
	live, err := n.pachd.Tokens(n.ctx)
	if err != nil {
		t.Fatalf("GET /tokens: %v", err)
	}
	covered := map[string]string{}
	for _, m := range n.mounts {
		for _, v := range m.admins() {
			covered[hashToken(v)] = "the admin token of mount " + m.name
		}
	}
	for _, l := range n.exp.Leases() {
		if tk, ok := l.Secret.InternalData["token"].(string); ok {
			covered[hashToken(tk)] = "a registered lease"
		}
		if tk, ok := l.Data["user_token"].(string); ok {
			covered[hashToken(tk)] = "a registered lease"
		}
	}
	wal := 0
	for _, m := range n.mounts {
		keys, err := m.m.Storage.List(n.ctx, "wal/")
		if err != nil {
			t.Fatalf("mount %s: listing wal/: %v", m.name, err)
		}
		for _, key := range keys {
			entry, err := m.m.Storage.Get(n.ctx, "wal/"+key)
			if err != nil || entry == nil {
				continue
			}
			wal++
			var v interface{}
			if json.Unmarshal(entry.Value, &v) == nil {
				for _, s := range jsonStrings(v) {
					covered[hashToken(s)] = "a WAL entry of mount " + m.name
				}
			}
		}
	}
	byReason := map[string]int{}
	var uncovered []string
	for _, tk := range live {
		if tk.Expired {
			continue
		}
		if reason, ok := covered[tk.Hash]; ok {
			byReason[reason]++
			continue
		}
		uncovered = append(uncovered, fmt.Sprintf("sha256:%s… %s (ttl %ds)", tk.Hash[:16], tk.Subject, tk.TTLSeconds))
	}
	sort.Strings(uncovered)
	t.Logf("invariant 2 (%s): %d tokens alive at pachd; covered %v; %d WAL entries; %d uncovered", when, len(live), byReason, wal, len(uncovered))
	if len(uncovered) > 0 {
		t.Errorf("%s: %d tokens alive at pachd that no admin token, registered lease or WAL entry covers, e.g. %v",
			when, len(uncovered), uncovered[:min(len(uncovered), 5)])
	}
}

func jsonStrings(v interface{}) []string {
	var out []string
	switch x := v.(type) {
	case string:
		out = append(out, x)
	case map[string]interface{}:
		for _, e := range x {
			out = append(out, jsonStrings(e)...)
		}
	case []interface{}:
		for _, e := range x {
			out = append(out, jsonStrings(e)...)
		}
	}
	return out
}

// checkCrossMount: invariant 4, the leak half: no answer of a mount holds
// another mount's admin token. A hostile value that a well-behaved mount's
// own answers held before the hostile mount wrote anything ("pachd_address",
// its own subjects) cannot be told from the mount's own words there; those
// are judged by checkAnswers (nothing altered) only, and so is a hostile
// value holding "[REDACTED]", which the alteration check looks for anyway.
func (n *neighbours) checkCrossMount() {
	t := n.t
	n.mu.Lock()
	answers := append([]*nbAnswer(nil), n.answers...)
	n.mu.Unlock()
	leaks := 0
	examples := []string{}
	judged, ambiguous := map[string]bool{}, map[string]bool{}
	for _, a := range answers {
		strs := answerStrings(a.r)
		for _, other := range n.mounts {
			if other == a.mount {
				continue
			}
			for _, secret := range other.admins() {
				if len(secret) < 8 {
					continue
				}
				if !a.mount.hostile && other.hostile && (strings.Contains(a.mount.vocabulary, secret) || strings.Contains(secret, "[REDACTED]")) {
					ambiguous[secret] = true
					continue
				}
				if other.hostile {
					judged[secret] = true
				}
				for _, s := range strs {
					if strings.Contains(s, secret) {
						leaks++
						if len(examples) < 4 {
							examples = append(examples, fmt.Sprintf("mount %s %s %q (status %d) holds mount %s's admin token %q in %q",
								a.mount.name, a.r.Req.Operation, a.r.Req.Path, a.r.Status, other.name, truncateRunes(secret, 40), truncateRunes(s, 160)))
						}
						break
					}
				}
			}
		}
	}
	t.Logf("invariant 4a (no mount's admin token in another's answers): %d answers searched; hostile admin tokens judged %d, "+
		"left to the alteration check %d (a well-behaved mount's own answers hold them); %d leaks",
		len(answers), len(judged), len(ambiguous), leaks)
	if leaks > 0 {
		t.Errorf("%d answers hold another mount's admin token, e.g.\n    %s", leaks, strings.Join(examples, "\n    "))
	}
}

// drain revokes every registered lease (three attempts each, as Vault
// retries), runs the rollback, and checks invariant 5.
func (n *neighbours) drain() {
	t := n.t
	leases := n.exp.Leases()
	failed := 0
	var failures []string
	deadline := time.Now().Add(neighboursDrainBudget)
	for _, l := range leases {
		if time.Now().After(deadline) {
			t.Errorf("drain: out of time (%v) with leases left to revoke", neighboursDrainBudget)
			break
		}
		var m *nbMount
		for _, c := range n.mounts {
			if c.m == l.Mount {
				m = c
			}
		}
		var r *harness.Result
		for attempt := 0; attempt < 3 && n.exp.Lookup(l.ID) != nil; attempt++ {
			r = n.revoke(m, "drain", l)
		}
		if n.exp.Lookup(l.ID) != nil {
			failed++
			if len(failures) < 3 && r != nil {
				failures = append(failures, fmt.Sprintf("mount %s %s: %.200s", m.name, l.ID, errorText(r)))
			}
		}
	}
	n.quiesce()
	live, err := n.pachd.Tokens(n.ctx)
	if err != nil {
		t.Fatalf("GET /tokens: %v", err)
	}
	owner := map[string]string{}
	for _, m := range n.good {
		for _, s := range m.roles {
			owner[s] = m.name
		}
		for _, s := range m.logins {
			owner[s] = m.name
		}
	}
	var alive []string
	for _, tk := range live {
		if tk.Expired {
			continue
		}
		if name, ok := owner[tk.Subject]; ok {
			alive = append(alive, fmt.Sprintf("sha256:%s… %s (mount %s)", tk.Hash[:16], tk.Subject, name))
		}
	}
	sort.Strings(alive)
	t.Logf("invariant 5 (after revoking every lease): %d leases revoked, %d revocations failed; %d tokens of well-behaved mounts alive at pachd",
		len(leases), failed, len(alive))
	if failed > 0 {
		t.Errorf("%d lease revocations failed three times, e.g. %v", failed, failures)
	}
	if len(alive) > 0 {
		t.Errorf("after every lease was revoked and the rollback ran, %d tokens of the well-behaved mounts are alive at pachd, e.g. %v",
			len(alive), alive[:min(len(alive), 5)])
	}
}

// checkLogLines: invariant 3. go-plugin re-logs each line of the plugin's
// stderr through the host logger of the mount that started the process: a
// line that parses as hclog JSON is logged with its own @module, message and
// fields plus a "timestamp" field; any other line verbatim as the message,
// under "<that mount's logger>.<executable>". The plugin's process is stopped
// first, so that every line it wrote has been re-logged. Node's own runtime
// warnings ("(node:PID) Warning: …") are no log lines of the plugin's: they
// are counted apart.
func (n *neighbours) checkLogLines() {
	t := n.t
	pid := n.mounts[0].m.PID()
	stderrModule := ""
	for _, m := range n.mounts {
		if m.m.Client.Spawned {
			stderrModule = "core.secrets." + m.m.PluginName + "." + m.m.Accessor + "." + m.m.PluginName + "." + filepath.Base(n.pluginPath)
		}
	}
	for _, m := range n.mounts {
		m.m.Cleanup(n.ctx)
	}
	if !harness.WaitProcessExit(pid, 10*time.Second) {
		t.Errorf("the plugin process %d outlived the cleanup of every mount", pid)
	}
	if stderrModule == "" {
		t.Fatalf("no mount says it started the plugin process")
	}
	wellFormed, malformed, nodeWarnings := 0, 0, 0
	var examples []string
	for _, e := range harness.ParseLogLines(n.cat.Log.String()) {
		if e.Level == "" {
			// a line of the host log that is no JSON: the host's logger writes none
			malformed++
			if len(examples) < 3 {
				examples = append(examples, "(host line) "+truncateRunes(e.Raw, 300))
			}
			continue
		}
		if ts, ok := e.Fields["timestamp"].(string); ok && !strings.HasPrefix(e.Module, "core") {
			// JSON with an @level; go-plugin puts the zero time for a missing @timestamp.
			if strings.HasPrefix(ts, "0001-01-01") || e.Message == "" {
				malformed++
				if len(examples) < 3 {
					examples = append(examples, "(JSON without @timestamp or @message) "+truncateRunes(e.Raw, 300))
				}
				continue
			}
			wellFormed++
			continue
		}
		if e.Module != stderrModule {
			continue
		}
		if nodeWarning.MatchString(e.Message) {
			nodeWarnings++
			continue
		}
		malformed++
		if len(examples) < 3 {
			examples = append(examples, truncateRunes(e.Message, 300))
		}
	}
	t.Logf("invariant 3 (plugin log lines are hclog JSON): %d plugin lines: %d hclog JSON, %d not (and %d Node runtime warnings, not judged)",
		wellFormed+malformed, wellFormed, malformed, nodeWarnings)
	if wellFormed == 0 {
		t.Errorf("the host log holds no hclog line of the plugin: capture broken?")
	}
	if malformed > 0 {
		t.Errorf("%d of %d plugin log lines are not hclog JSON, e.g.\n    %s", malformed, wellFormed+malformed, strings.Join(examples, "\n    "))
	}
}

var nodeWarning = regexp.MustCompile("^\\(node:\\d+\\) \\w*Warning: |^\\(Use `\\S+ --trace-warnings")
