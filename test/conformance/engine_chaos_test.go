package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"pachyderm-vault-plugin/test/conformance/harness"
	"pachyderm-vault-plugin/test/conformance/standin"
)

// TestEngineChaos drives build/pachyderm through Vault's plugin client from
// many concurrent clients in seeded random interleavings of login, creds,
// renew, revoke, rotate-root, config writes (the rotation schedule's fields
// among them) and rollback ticks, while the
// pachd stand-in injects latency, errors, outages and write contention and
// the plugin process is killed (SIGKILL) and relaunched on the same storage
// at random moments. After each round it quiesces, runs the rollback as
// Vault's rollback manager would once the WAL grace period passed, and checks
// invariants that must hold whatever the storm was:
//
//   - every token alive at pachd is the configured admin token, pachd's own
//     root token, or covered by a lease the host holds or a WAL entry;
//   - exactly one token of the admin subject is alive, the configured one;
//   - no response, error or log line holds an admin token (any one ever
//     issued), and no log line holds an issued token;
//   - every dynamic robot that holds a binding or a live token at pachd is
//     the subject of a held lease or a WAL entry, and a held lease's robot
//     holds exactly its role's bindings.
//
// The engine rotates the admin token on its own during the storm: the admin
// token it starts with, and most that rotate-root makes (ttl 10m), expire
// within the ten minutes before its end at which an expiring admin token is
// due, so the ticks (a compressed rollback manager sends one every 50-200ms)
// rotate them among the kills and faults. The host log's automated rotations
// are counted per round; the run's storms must have done at least one, and
// after each round's storm a rotate-root with ttl 10m must be followed by an
// automated rotation at the next tick (the schedule is not left stuck).
//
// Static robots take part (engine_chaos_static_test.go): four static roles
// are rotated, read, rewritten, deleted and written again by the clients and
// rotated on schedule by the ticks; after each round every static robot has
// exactly its current token alive (plus the one it replaced, inside its
// grace) and its role's bindings, a deleted role's robot nothing, and every
// static token is in the coverage above (a static role stores it). The
// run's storms must have rotated static robots' tokens.
//
// After the last round every lease is revoked and the rollback run: no
// dynamic robot may then hold a binding or a live token; then every static
// role is deleted, and none of their robots may hold anything either.
//
// Each client's sequence of operations, the fault schedule and the kill
// schedule follow from the seed (printed; CHAOS_SEED reruns it); how they
// interleave depends on timing. CHAOS_ROUNDS and CHAOS_CLIENTS scale it.
func TestEngineChaos(t *testing.T) {
	seed := envInt64("CHAOS_SEED", time.Now().UnixNano())
	rounds := int(envInt64("CHAOS_ROUNDS", 2))
	clients := int(envInt64("CHAOS_CLIENTS", 8))
	t.Logf("chaos seed %d (rerun with CHAOS_SEED=%d), %d rounds of %d clients per pachd generation", seed, seed, rounds, clients)
	for gi, g := range pachdGenerations {
		g := g
		genSeed := seed + int64(gi)*1_000_003
		t.Run(g.name, func(t *testing.T) {
			c := newChaos(t, g, genSeed, clients)
			for round := 1; round <= rounds; round++ {
				c.round(round, genSeed+int64(round)*7919)
				if t.Failed() {
					t.Logf("stopping after round %d: an invariant failed (seed %d)", round, seed)
					return
				}
			}
			c.checkStormRotations()
			c.checkStormStaticRotations()
			c.drain()
		})
	}
}

func envInt64(name string, fallback int64) int64 {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err == nil {
			return n
		}
	}
	return fallback
}

const (
	chaosAdminSubject = "robot:vault-admin"
	chaosOpsPerClient = 40
	// chaosShortAdminLife (seconds) is under the ten minutes before its expiry at which the
	// engine rotates an expiring admin token: such a token is due at the next rollback tick.
	chaosShortAdminLife = 9 * 60
	// chaosAutomatedDone and chaosAutomatedFailed are the engine's log messages for the end of
	// an automated rotation (rotation-scheduler.ts).
	chaosAutomatedDone   = "automated rotation of the admin token done"
	chaosAutomatedFailed = "automated rotation of the admin token failed"
)

type chaos struct {
	t       *testing.T
	e       *engineEnv
	tg      target
	ctx     context.Context
	clients int

	mountMu sync.RWMutex
	mount   *harness.Mount

	leaseMu sync.Mutex
	leases  map[int64]*lease
	nextID  int64

	// Tokens a revocation was attempted on, and when the process was killed:
	// what may excuse a token under a held lease being dead.
	excusedMu sync.Mutex
	excused   map[string]bool
	killTimes []time.Time

	// The dynamic robot role's bindings, as written and as pachd holds them.
	robotBindings chaosBindings

	// Automated rotations of the admin token during the storms, by "done <reason>" or "failed".
	stormAutomated map[string]int

	// The storm's static roles (engine_chaos_static_test.go), and when the last quiescent ticks began.
	static   *chaosStatic
	tickedAt time.Time

	counts   sync.Map // "op status" -> *int64
	kills    atomic.Int64
	launches atomic.Int64
	faults   atomic.Int64
}

func newChaos(t *testing.T, g pachdGeneration, seed int64, clients int) *chaos {
	e := newEngineEnv(t, g)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	t.Cleanup(cancel)
	c := &chaos{t: t, e: e, tg: targetByName(t, targetPachyderm), ctx: ctx, clients: clients, mount: e.m, leases: map[int64]*lease{}, excused: map[string]bool{},
		stormAutomated: map[string]int{}}
	t.Cleanup(func() { c.current().Cleanup(context.Background()) })

	roles := []string{"clusterAdmin"}
	if g.generation == 1 {
		roles = []string{"SUPER"}
	}
	// Shorter-lived than the engine's floor for an expiring admin token (rotated at least ten
	// minutes before it ends), so the first rollback tick of the storm rotates it on its own.
	admin, err := e.pachd.CreateToken(ctx, chaosAdminSubject, chaosShortAdminLife, roles)
	if err != nil {
		t.Fatalf("POST /tokens: %v", err)
	}
	e.addSecret(admin.Token, "the chaos admin token")
	e.configure(map[string]interface{}{
		"admin_token": admin.Token, "ttl": "5m", "max_ttl": "1h", "request_timeout": "1s", "pachd_max_in_flight": 2,
	})
	if mode := e.read("config").Data()["issuance_mode"]; mode != "restore" {
		t.Fatalf("issuance_mode = %v: the chaos invariants assume the engine picks every token value", mode)
	}
	for name, subject := range map[string]string{"ci": "robot:ci", "svc": "robot:svc", "alice": g.userSubject} {
		if r := e.write("roles/"+name, map[string]interface{}{"subject": subject}); !expectOK(t, "role "+name, r) {
			t.FailNow()
		}
	}
	for _, repo := range []string{"images", "edges"} {
		if _, err := e.pachd.CreateRepo(ctx, "", repo, ""); err != nil {
			t.Fatalf("POST /repos %s: %v", repo, err)
		}
	}
	c.robotBindings = chaosRobotBindings(g.generation)
	if r := e.write("roles/dyn", map[string]interface{}{"role_bindings": strings.Join(c.robotBindings.written, ",")}); !expectOK(t, "role dyn", r) {
		t.FailNow()
	}
	c.setupStatic()
	return c
}

func (c *chaos) current() *harness.Mount {
	c.mountMu.RLock()
	defer c.mountMu.RUnlock()
	return c.mount
}

// do sends one request to whatever process serves the mount now, with a
// request deadline as Vault's HTTP layer sets one, and records it for the
// leak check.
func (c *chaos) do(op logical.Operation, path string, data map[string]interface{}, prepare func(*logical.Request)) *harness.Result {
	m := c.current()
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	req := m.NewRequest(op, path, data)
	if prepare != nil {
		prepare(req)
	}
	r := m.Do(ctx, req)
	c.e.mu.Lock()
	c.e.results = append(c.e.results, r)
	c.e.mu.Unlock()
	return r
}

func (c *chaos) count(op string, r *harness.Result) {
	key := fmt.Sprintf("%-12s %dxx", op, r.Status/100)
	if r.Status == 0 {
		key = fmt.Sprintf("%-12s err", op)
	}
	v, _ := c.counts.LoadOrStore(key, new(int64))
	atomic.AddInt64(v.(*int64), 1)
}

func (c *chaos) hold(l *lease) {
	c.leaseMu.Lock()
	defer c.leaseMu.Unlock()
	c.nextID++
	c.leases[c.nextID] = l
}

func (c *chaos) pick(rng *rand.Rand) (int64, *lease) {
	c.leaseMu.Lock()
	defer c.leaseMu.Unlock()
	if len(c.leases) == 0 {
		return 0, nil
	}
	ids := make([]int64, 0, len(c.leases))
	for id := range c.leases {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	id := ids[rng.Intn(len(ids))]
	return id, c.leases[id]
}

// round runs the clients, the fault injector and the killer together, then
// quiesces and checks the invariants.
func (c *chaos) round(n int, seed int64) {
	logFrom := c.e.cat.Log.Len()
	c.primeAutomatedRotation(n)
	stop := make(chan struct{})
	var background sync.WaitGroup
	background.Add(3)
	go func() { defer background.Done(); c.injectFaults(rand.New(rand.NewSource(seed+1)), stop) }()
	go func() { defer background.Done(); c.killAtRandom(rand.New(rand.NewSource(seed+2)), stop) }()
	go func() { defer background.Done(); c.tick(rand.New(rand.NewSource(seed+3)), stop) }()

	var clients sync.WaitGroup
	stormStart := time.Now()
	for i := 0; i < c.clients; i++ {
		clients.Add(1)
		go func(rng *rand.Rand) {
			defer clients.Done()
			for op := 0; op < chaosOpsPerClient; op++ {
				c.operate(rng)
			}
		}(rand.New(rand.NewSource(seed + 100 + int64(i))))
	}
	clients.Wait()
	close(stop)
	background.Wait()
	c.t.Logf("round %d: the storm lasted %v", n, time.Since(stormStart).Round(time.Millisecond))
	stormLog := c.e.cat.Log.Len()
	c.quiesce()
	c.report(n)
	c.countAutomatedRotations(n, logFrom, stormLog)
	c.countStaticRotations(n, logFrom, stormLog)
	c.checkStatic(n, c.tickedAt)
	c.rotationsGoOn(n)
	c.checkInvariants(n)
}

// primeAutomatedRotation makes the round's first rollback tick rotate the admin token on its
// own: automated rotation on (a config write of the storm may have turned it off), and an admin
// token that expires within the engine's floor (rotate-root with ttl 10m, the shortest it takes).
func (c *chaos) primeAutomatedRotation(round int) {
	if r := c.do(logical.UpdateOperation, "config", map[string]interface{}{"disable_automated_rotation": false}, nil); !expectOK(c.t, fmt.Sprintf("round %d: config write turning automated rotation on", round), r) {
		c.t.FailNow()
	}
	if round > 1 {
		if r := c.do(logical.UpdateOperation, "config/rotate-root", map[string]interface{}{"ttl": "10m"}, nil); !expectOK(c.t, fmt.Sprintf("round %d: rotate-root with ttl 10m", round), r) {
			c.t.FailNow()
		}
	} // else the configured admin token already expires within the floor
	data := c.do(logical.ReadOperation, "config", nil, nil).Data()
	c.t.Logf("round %d starts: admin token expires %v, next automated rotation %v", round, data["admin_token_expires_at"], data["next_rotation"])
}

// countAutomatedRotations counts the automated rotations of the round in the host log: the
// storm's, and the quiescent ticks'. The run must have some during its storms (checked at its
// end: one round's storm may have none, its attempts failing under the faults and then waiting
// out their backoff).
func (c *chaos) countAutomatedRotations(round, from, stormEnd int) {
	log := c.e.cat.Log.String()
	storm, quiet := automatedRotations(log[from:stormEnd]), automatedRotations(log[stormEnd:])
	for k, v := range storm {
		c.stormAutomated[k] += v
	}
	c.t.Logf("round %d automated rotations: during the storm %v, at the quiescent ticks %v; storms so far %v",
		round, storm, quiet, c.stormAutomated)
}

// automatedRotations counts the log's automated rotations by "done <reason>" and "failed".
func automatedRotations(text string) map[string]int {
	out := map[string]int{}
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.Contains(line, chaosAutomatedDone):
			reason := "unknown"
			if m := chaosReason.FindStringSubmatch(line); m != nil {
				reason = m[1]
			}
			out["done "+reason]++
		case strings.Contains(line, chaosAutomatedFailed):
			out["failed"]++
		}
	}
	return out
}

// rotationsGoOn: after the storm, whatever state its failures, kills and writers left the
// schedule in, an operator's rotate-root (with automated rotation on: a storm's writer may have
// left it off) puts automated rotation back on track: an admin token living ten minutes is
// rotated by the next tick, as due before its expiry.
func (c *chaos) rotationsGoOn(round int) {
	t := c.t
	before := c.do(logical.ReadOperation, "config", nil, nil).Data()
	if r := c.do(logical.UpdateOperation, "config", map[string]interface{}{"disable_automated_rotation": false}, nil); !expectOK(t, fmt.Sprintf("round %d: config write turning automated rotation on after the storm", round), r) {
		return
	}
	t.Logf("round %d ends with disable_automated_rotation %v, rotation_failures %v, automated_rotation_stopped %v, next_rotation %v",
		round, before["disable_automated_rotation"], before["rotation_failures"], before["automated_rotation_stopped"], before["next_rotation"])
	r := c.do(logical.UpdateOperation, "config/rotate-root", map[string]interface{}{"ttl": "10m"}, nil)
	if !expectOK(t, fmt.Sprintf("round %d: rotate-root with ttl 10m after the storm", round), r) {
		return
	}
	from := c.e.cat.Log.Len()
	if tick := c.do(logical.RollbackOperation, "", nil, nil); tick.Err != nil {
		t.Errorf("round %d: the tick after the storm: %v", round, tick.Err)
	}
	// The host log gets the plugin's lines through its stderr, a moment after the answer.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && automatedRotations(c.e.cat.Log.String()[from:])["done expiry"] == 0 {
		time.Sleep(50 * time.Millisecond)
	}
	got := automatedRotations(c.e.cat.Log.String()[from:])
	data := c.do(logical.ReadOperation, "config", nil, nil).Data()
	if got["done expiry"] != 1 {
		t.Errorf("round %d: after the storm, a tick did not rotate an admin token living ten minutes (log %v; config last_rotation %v, last_rotation_error %v, automated_rotation_stopped %v)",
			round, got, data["last_rotation"], data["last_rotation_error"], data["automated_rotation_stopped"])
	}
	if fp := data["admin_token_fingerprint"]; fp == r.Data()["admin_token_fingerprint"] {
		t.Errorf("round %d: after the automated rotation the configuration still holds the token rotate-root made (%v)", round, fp)
	}
}

// checkStormRotations: the run's storms rotated the admin token on their own at least once.
func (c *chaos) checkStormRotations() {
	done := 0
	for k, v := range c.stormAutomated {
		if strings.HasPrefix(k, "done ") {
			done += v
		}
	}
	if done == 0 {
		c.t.Errorf("no automated rotation of the admin token was done during the storms (%v)", c.stormAutomated)
	}
}

var (
	chaosReason    = regexp.MustCompile(`"reason":"([a-z]+)"`)
	chaosRoleField = regexp.MustCompile(`"role":"([a-z0-9-]+)"`)
)

func (c *chaos) operate(rng *rand.Rand) {
	if rng.Intn(5) == 0 {
		c.operateStatic(rng)
		return
	}
	subjects := []string{"robot:ci", "robot:batch", c.e.gen.userSubject}
	switch roll := rng.Intn(100); {
	case roll < 25:
		subject := subjects[rng.Intn(len(subjects))]
		c.issue("login", logical.UpdateOperation, "login", map[string]interface{}{"username": subject})
	case roll < 45:
		role := []string{"ci", "svc", "alice", "dyn", "dyn"}[rng.Intn(5)]
		c.issue("creds", logical.ReadOperation, "creds/"+role, nil)
	case roll < 58:
		if id, l := c.pick(rng); l != nil {
			r := c.do(logical.RenewOperation, l.path, l.data, func(req *logical.Request) {
				s := l.secret
				s.IssueTime = l.issueTime
				s.Increment = time.Duration(1+rng.Intn(10)) * time.Minute
				req.Secret = &s
			})
			c.count("renew", r)
			if r.Err == nil && r.Resp != nil && r.Resp.Secret != nil {
				c.leaseMu.Lock()
				if held, ok := c.leases[id]; ok {
					held.secret = *r.Resp.Secret
				}
				c.leaseMu.Unlock()
			}
		}
	case roll < 72:
		if id, l := c.pick(rng); l != nil {
			c.excuse(l.token)
			r := c.do(logical.RevokeOperation, l.path, l.data, func(req *logical.Request) {
				s := l.secret
				s.IssueTime = l.issueTime
				req.Secret = &s
			})
			c.count("revoke", r)
			if r.Err == nil {
				// Only a revocation that succeeded ends the lease; Vault retries the others.
				c.leaseMu.Lock()
				delete(c.leases, id)
				c.leaseMu.Unlock()
			}
		}
	case roll < 77:
		if _, l := c.pick(rng); l != nil {
			c.excuse(l.token)
			c.count("revoke-path", c.do(logical.UpdateOperation, "revoke", map[string]interface{}{"user_token": l.token}, nil))
		}
	case roll < 83:
		// Most of them leave an admin token living ten minutes: due for an automated rotation
		// at the next tick.
		var body map[string]interface{}
		if rng.Intn(4) != 0 {
			body = map[string]interface{}{"ttl": "10m"}
		}
		c.count("rotate-root", c.do(logical.UpdateOperation, "config/rotate-root", body, nil))
	case roll < 91:
		settings := []map[string]interface{}{
			{"ttl": "10m"}, {"ttl": "5m"}, {"max_ttl": "2h"}, {"request_timeout": "2s"},
			{"pachd_max_in_flight": 1 + rng.Intn(3)}, {"request_timeout": "1s", "max_ttl": "1h"},
			// The schedule changes under the rotations: a period, a cron that fires every
			// minute (with and without a window), none; automated rotation off now and then, and
			// on again.
			{"rotation_period": "1m", "rotation_schedule": ""}, {"rotation_schedule": "* * * * *", "rotation_period": "0"},
			{"rotation_schedule": "*/2 * * * *", "rotation_window": "1m", "rotation_period": "0"},
			{"rotation_period": "0", "rotation_schedule": ""}, {"disable_automated_rotation": false},
		}
		setting := settings[rng.Intn(len(settings))]
		if rng.Intn(8) == 0 {
			// Off for a moment only: the storm is to rotate on its own most of the time.
			c.count("config", c.do(logical.UpdateOperation, "config", map[string]interface{}{"disable_automated_rotation": true}, nil))
			setting = map[string]interface{}{"disable_automated_rotation": false}
		}
		c.count("config", c.do(logical.UpdateOperation, "config", setting, nil))
	case roll < 95:
		c.count("rollback", c.do(logical.RollbackOperation, "", nil, nil))
	default:
		c.count("read", c.do(logical.ReadOperation, []string{"config", "version", "roles/ci"}[rng.Intn(3)], nil, nil))
	}
}

func (c *chaos) issue(op string, operation logical.Operation, path string, data map[string]interface{}) {
	r := c.do(operation, path, data, nil)
	c.count(op, r)
	if r.Err != nil || r.Resp == nil || r.Resp.Secret == nil {
		return
	}
	token, _ := r.Data()["user_token"].(string)
	c.e.mu.Lock()
	c.e.issued = append(c.e.issued, token)
	c.e.mu.Unlock()
	// What the expiration manager registers: the lease outlives the plugin process.
	c.hold(&lease{path: path, data: r.Resp.Data, secret: *r.Resp.Secret, issueTime: time.Now(), token: token})
}

// injectFaults changes one fault every so often: latency (some past the
// plugin's request_timeout, so pachd applies calls whose answers are lost),
// errors, short outages, and token-write contention.
func (c *chaos) injectFaults(rng *rand.Rand, stop <-chan struct{}) {
	methods := []string{"RestoreAuthToken", "RevokeAuthToken", "WhoAmI", "GetVersion", "RotateRootToken", "ExtendAuthToken", "GetPermissions"}
	codes := []int{14, 13, 2, 4}
	for {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(80+rng.Intn(250)) * time.Millisecond):
		}
		var err error
		switch rng.Intn(6) {
		case 0, 1:
			err = c.e.pachd.SetLatency(c.ctx, methods[rng.Intn(len(methods))], time.Duration(rng.Intn(1500))*time.Millisecond)
		case 2:
			err = c.e.pachd.InjectError(c.ctx, methods[rng.Intn(len(methods))], codes[rng.Intn(len(codes))], "chaos: injected failure", 1+rng.Intn(3))
		case 3:
			if err = c.e.pachd.Unavailable(c.ctx); err == nil {
				time.Sleep(time.Duration(100+rng.Intn(400)) * time.Millisecond)
				err = c.e.pachd.Available(c.ctx)
			}
		case 4:
			err = c.e.pachd.SetContention(c.ctx, standin.ContentionOptions{Enabled: rng.Intn(2) == 0, Seed: rng.Int63n(1 << 30), StallMaxMs: 3000})
		default:
			err = c.e.pachd.ResetFaults(c.ctx)
		}
		if err != nil {
			c.t.Errorf("fault injection: %v", err)
			return
		}
		c.faults.Add(1)
	}
}

// killAtRandom SIGKILLs the plugin process now and then, wherever its
// requests are, and relaunches it on the same storage, as Vault does when
// it finds a plugin dead.
func (c *chaos) killAtRandom(rng *rand.Rand, stop <-chan struct{}) {
	// The first kill comes early, so every round has one; then calm stretches, long enough that
	// most leases are far from any kill and a token that dies under a held lease with no kill
	// near it stands out.
	wait := time.Duration(150+rng.Intn(450)) * time.Millisecond
	for {
		select {
		case <-stop:
			return
		case <-time.After(wait):
		}
		c.killAndRelaunch()
		wait = time.Duration(700+rng.Intn(1500)) * time.Millisecond
	}
}

// tick is Vault's rollback manager, its minute compressed to a fraction of a second: the
// periodic function that rotates the admin token on schedule or before it expires runs often
// enough to meet the storm's kills, faults and writers (the clients send a few ticks as well).
func (c *chaos) tick(rng *rand.Rand, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(50+rng.Intn(150)) * time.Millisecond):
		}
		c.count("tick", c.do(logical.RollbackOperation, "", nil, nil))
	}
}

func (c *chaos) excuse(token string) {
	c.excusedMu.Lock()
	defer c.excusedMu.Unlock()
	c.excused[token] = true
}

// killedSoonAfter: whether the process was killed within the grace the engine
// keeps an issuance journaled after its answer (plus slack), so that the
// rollback may have revoked a token the host holds a lease for.
func (c *chaos) killedSoonAfter(issued time.Time) bool {
	c.excusedMu.Lock()
	defer c.excusedMu.Unlock()
	for _, at := range c.killTimes {
		// The answer arrived at `issued`; the engine releases the journal half a second later,
		// and a record it shares with slower issuances is rewritten without it 200 ms after that.
		if at.After(issued.Add(-250*time.Millisecond)) && at.Before(issued.Add(1250*time.Millisecond)) {
			return true
		}
	}
	return false
}

func (c *chaos) killAndRelaunch() {
	c.mountMu.Lock()
	defer c.mountMu.Unlock()
	old := c.mount
	if pid := old.PID(); pid > 0 {
		c.excusedMu.Lock()
		c.killTimes = append(c.killTimes, time.Now())
		c.excusedMu.Unlock()
		_ = syscall.Kill(pid, syscall.SIGKILL)
		harness.WaitProcessExit(pid, 5*time.Second)
		c.kills.Add(1)
	}
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	old.Cleanup(ctx)
	cancel()
	m, err := c.e.cat.MountWith(c.ctx, c.tg.path, c.tg.mountConfig, harness.MountOptions{
		Name: c.tg.name, Path: strings.TrimSuffix(old.Path, "/"), Storage: old.Storage, System: old.System,
	})
	if err != nil {
		c.t.Errorf("relaunching the plugin after a kill: %v", err)
		return
	}
	c.mount = m
	c.launches.Add(1)
}

// quiesce ends the storm: faults off, pachd healthy, a live process, and the
// rollback manager's pass once the grace period is over.
func (c *chaos) quiesce() {
	t := c.t
	if err := c.e.pachd.ResetFaults(c.ctx); err != nil {
		t.Fatalf("reset faults: %v", err)
	}
	if err := c.e.pachd.Available(c.ctx); err != nil {
		t.Fatalf("available: %v", err)
	}
	if err := c.e.pachd.SetContention(c.ctx, standin.ContentionOptions{Enabled: false}); err != nil {
		t.Fatalf("contention off: %v", err)
	}
	if !harness.ProcessAlive(c.current().PID()) {
		c.killAndRelaunch()
	}
	// The rollback's grace period, compressed: it is longer than any call to pachd may last,
	// so by the time it acts no call of an interrupted request can still land at pachd (the
	// stand-in applies a delayed write after its client gave up, as a slow pachd may). Here:
	// until pachd has no token write in flight, and a request's after-response work is done.
	deadline := time.Now().Add(30 * time.Second)
	for {
		stats, err := c.e.pachd.Stats(c.ctx)
		if err != nil {
			t.Fatalf("GET /stats: %v", err)
		}
		if stats.Writes.InFlight == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	c.tickedAt = time.Now()
	for i := 0; i < 2; i++ {
		r := c.do(logical.RollbackOperation, "", map[string]interface{}{"immediate": true}, nil)
		if r.Err != nil {
			t.Errorf("rollback after the round: %v", r.Err)
		}
	}
}

func (c *chaos) report(round int) {
	var lines []string
	c.counts.Range(func(k, v interface{}) bool {
		lines = append(lines, fmt.Sprintf("  %s %5d", k, atomic.LoadInt64(v.(*int64))))
		return true
	})
	sort.Strings(lines)
	c.leaseMu.Lock()
	held := len(c.leases)
	c.leaseMu.Unlock()
	c.t.Logf("round %d: operations so far (kind, status class, count):\n%s\n  kills %d, launches %d, fault changes %d, leases held %d",
		round, strings.Join(lines, "\n"), c.kills.Load(), c.launches.Load(), c.faults.Load(), held)
}

var hexToken = regexp.MustCompile(`\b[0-9a-f]{32}\b`)

func (c *chaos) checkInvariants(round int) {
	t := c.t
	m := c.current()
	live, err := c.e.pachd.Tokens(c.ctx)
	if err != nil {
		t.Fatalf("GET /tokens: %v", err)
	}
	info, err := c.e.pachd.Info(c.ctx)
	if err != nil {
		t.Fatalf("GET /info: %v", err)
	}
	configured, _ := c.do(logical.ReadOperation, "config", nil, nil).Data()["admin_token_fingerprint"].(string)

	covered := map[string]string{hashToken(info.RootToken): "pachd's root token"}
	c.leaseMu.Lock()
	for _, l := range c.leases {
		covered[hashToken(l.token)] = "a lease the host holds"
	}
	c.leaseMu.Unlock()
	c.staticCovered(m, covered)
	journaledRobots := map[string]bool{}
	walKeys, err := m.Storage.List(c.ctx, "wal/")
	if err != nil {
		t.Fatalf("listing wal/: %v", err)
	}
	for _, key := range walKeys {
		entry, err := m.Storage.Get(c.ctx, "wal/"+key)
		if err != nil || entry == nil {
			continue
		}
		type journaled struct {
			Token    string `json:"token"`
			NewToken string `json:"new_token"`
			Subject  string `json:"subject"`
		}
		// An entry of its own, or a record of several issuances (kind
		// pachd-tokens), each member shaped as an entry of its own.
		var wal struct {
			Kind string `json:"kind"`
			Data struct {
				journaled
				Members []journaled `json:"members"`
			} `json:"data"`
		}
		if json.Unmarshal(entry.Value, &wal) == nil {
			for _, named := range append([]journaled{wal.Data.journaled}, wal.Data.Members...) {
				for _, tk := range []string{named.Token, named.NewToken} {
					if tk != "" {
						covered[hashToken(tk)] = "a WAL entry (" + wal.Kind + ")"
					}
				}
				if strings.HasPrefix(named.Subject, dynamicRobotPrefix) {
					journaledRobots[named.Subject] = true
				}
			}
		}
	}

	var uncovered, admins []string
	byReason := map[string]int{}
	for _, tk := range live {
		if tk.Expired {
			continue
		}
		if tk.Subject == chaosAdminSubject {
			admins = append(admins, "sha256:"+tk.Hash[:16])
			if "sha256:"+tk.Hash[:16] != configured {
				c.explain(tk.Hash)
			}
			continue
		}
		if reason, ok := covered[tk.Hash]; ok {
			byReason[reason]++
			continue
		}
		uncovered = append(uncovered, fmt.Sprintf("%s… %s ttl %ds", tk.Hash[:12], tk.Subject, tk.TTLSeconds))
		c.explain(tk.Hash)
	}
	t.Logf("round %d invariants: %d live tokens at pachd: %d admin, covered %v, %d uncovered; %d WAL entries left",
		round, len(live), len(admins), byReason, len(uncovered), len(walKeys))
	if len(uncovered) > 0 {
		sort.Strings(uncovered)
		t.Errorf("round %d: tokens alive at pachd that no lease, WAL entry or configuration covers: %v", round, uncovered)
	}
	if len(admins) != 1 || admins[0] != configured {
		t.Errorf("round %d: admin-subject tokens alive at pachd %v, want exactly the configured one %s", round, admins, configured)
	}
	if len(walKeys) > 0 {
		t.Errorf("round %d: WAL entries left after the rollback with pachd healthy: %v", round, walKeys)
	}
	c.checkLeasedTokensAlive(round, live)
	c.checkRobots(fmt.Sprintf("round %d", round), live, journaledRobots)
	c.checkSecrets(round)
}

// checkLeasedTokensAlive: a token under a lease the host holds is alive at
// pachd unless something explains its death: a revocation was attempted on
// it, or the process was killed while its issuance was still journaled.
func (c *chaos) checkLeasedTokensAlive(round int, live []standin.Token) {
	alive := map[string]bool{}
	for _, tk := range live {
		if !tk.Expired {
			alive[tk.Hash] = true
		}
	}
	c.leaseMu.Lock()
	held := make([]*lease, 0, len(c.leases))
	for _, l := range c.leases {
		held = append(held, l)
	}
	c.leaseMu.Unlock()
	dead, excusedDead, byRevocation := 0, 0, 0
	for _, l := range held {
		if alive[hashToken(l.token)] {
			continue
		}
		c.excusedMu.Lock()
		revoked := c.excused[l.token]
		c.excusedMu.Unlock()
		if revoked || c.killedSoonAfter(l.issueTime) {
			excusedDead++
			if revoked {
				byRevocation++
			}
			continue
		}
		dead++
		c.t.Errorf("round %d: the token of a held lease (%s, %s) is dead at pachd with no revocation and no crash to explain it",
			round, l.data["subject"], fingerprint(l.token))
		c.explain(hashToken(l.token))
	}
	c.t.Logf("round %d leases: %d held, %d with their token alive, %d dead after a revocation attempt, %d after a crash, %d dead unexplained",
		round, len(held), len(held)-dead-excusedDead, byRevocation, excusedDead-byRevocation, dead)
}

// explain logs what the host log says about a token (by its fingerprint), to
// find out how it escaped.
func (c *chaos) explain(hash string) {
	needle := hash[:16]
	var lines []string
	for _, line := range strings.Split(c.e.cat.Log.String(), "\n") {
		if strings.Contains(line, needle) {
			lines = append(lines, fmt.Sprintf("%.400s", line))
		}
	}
	c.t.Logf("what the host log says about sha256:%s:\n%s", needle, strings.Join(lines, "\n"))
}

// checkSecrets looks for every token pachd ever issued to the admin subject
// in every response, error and log line, and for any issued token in the
// log: the values themselves are unknown to the test, their hashes are not.
func (c *chaos) checkSecrets(round int) {
	t := c.t
	history, err := c.e.pachd.TokenHistory(c.ctx)
	if err != nil {
		t.Fatalf("GET /tokens/history: %v", err)
	}
	admin := map[string]bool{}
	everIssued := map[string]bool{}
	for _, h := range history {
		everIssued[h.Hash] = true
		if h.Subject == chaosAdminSubject || h.Subject == "pach:root" {
			admin[h.Hash] = true
		}
	}
	found := func(text string, set map[string]bool) []string {
		var hits []string
		for _, candidate := range hexToken.FindAllString(text, -1) {
			sum := sha256.Sum256([]byte(candidate))
			if set[hex.EncodeToString(sum[:])] {
				hits = append(hits, fingerprint(candidate))
			}
		}
		return hits
	}
	c.e.mu.Lock()
	results := append([]*harness.Result(nil), c.e.results...)
	c.e.mu.Unlock()
	leaks := 0
	for i, r := range results {
		text := errorText(r) + harness.DescribeResponse(r.Resp)
		if hits := found(text, admin); len(hits) > 0 {
			leaks++
			t.Errorf("round %d: request #%d (%s %q) shows admin token(s) %v", round, i+1, r.Req.Operation, r.Req.Path, hits)
		}
	}
	for _, line := range strings.Split(c.e.cat.Log.String(), "\n") {
		if hits := found(line, everIssued); len(hits) > 0 {
			leaks++
			t.Errorf("round %d: a log line shows token(s) %v: %.300s", round, hits, line)
		}
	}
	t.Logf("round %d secrets: %d admin tokens ever issued, %d tokens in all; %d responses and %d log bytes searched; %d leaks",
		round, len(admin), len(everIssued), len(results), c.e.cat.Log.Len(), leaks)
}

// dynamicRobotPrefix: how the engine's default robot_name_template names the
// robots of role dyn.
const dynamicRobotPrefix = "robot:vault-dyn-"

type chaosBindings struct {
	written []string
	// resource ("repo:default/images") -> roles, as the stand-in lists them
	held map[string][]string
}

func chaosRobotBindings(generation int) chaosBindings {
	if generation == 1 {
		return chaosBindings{
			written: []string{"repo:images=repoReader", "repo:edges=repoWriter"},
			held:    map[string][]string{"repo:images": {"READER"}, "repo:edges": {"WRITER"}},
		}
	}
	return chaosBindings{
		written: []string{"repo:default/images=repoReader", "repo:edges=repoWriter", "project:default=projectViewer"},
		held: map[string][]string{
			"repo:default/images": {"repoReader"}, "repo:default/edges": {"repoWriter"}, "project:default": {"projectViewer"},
		},
	}
}

// robotHoldings: what each dynamic robot holds at pachd, bindings by resource,
// plus the robots with a live token.
func (c *chaos) robotHoldings(live []standin.Token) (map[string]map[string][]string, map[string]bool) {
	all, err := c.e.pachd.Bindings(c.ctx)
	if err != nil {
		c.t.Fatalf("GET /bindings: %v", err)
	}
	bindings := map[string]map[string][]string{}
	for _, resource := range all {
		key := resource.Type
		if resource.Type != "cluster" {
			key += ":" + resource.Name
		}
		for principal, roles := range resource.Entries {
			if !strings.HasPrefix(principal, dynamicRobotPrefix) || len(roles) == 0 {
				continue
			}
			if bindings[principal] == nil {
				bindings[principal] = map[string][]string{}
			}
			sorted := append([]string(nil), roles...)
			sort.Strings(sorted)
			bindings[principal][key] = sorted
		}
	}
	tokens := map[string]bool{}
	for _, tk := range live {
		if !tk.Expired && strings.HasPrefix(tk.Subject, dynamicRobotPrefix) {
			tokens[tk.Subject] = true
		}
	}
	return bindings, tokens
}

// checkRobots: every dynamic robot holding anything at pachd is accounted
// for by a held lease or a WAL entry, and a held lease's robot whose token
// lives holds exactly its role's bindings.
func (c *chaos) checkRobots(when string, live []standin.Token, journaled map[string]bool) {
	bindings, tokens := c.robotHoldings(live)
	leased := map[string]*lease{}
	c.leaseMu.Lock()
	for _, l := range c.leases {
		if subject, _ := l.data["subject"].(string); strings.HasPrefix(subject, dynamicRobotPrefix) {
			leased[subject] = l
		}
	}
	c.leaseMu.Unlock()
	holders := map[string]bool{}
	for subject := range bindings {
		holders[subject] = true
	}
	for subject := range tokens {
		holders[subject] = true
	}
	var strays []string
	for subject := range holders {
		if leased[subject] == nil && !journaled[subject] {
			strays = append(strays, fmt.Sprintf("%s (bindings %v, live token %v)", subject, bindings[subject], tokens[subject]))
		}
	}
	wrong := 0
	for subject, l := range leased {
		if !tokens[subject] {
			continue // dead token: checkLeasedTokensAlive judges that
		}
		c.excusedMu.Lock()
		revoked := c.excused[l.token]
		c.excusedMu.Unlock()
		if revoked {
			continue
		}
		if !reflect.DeepEqual(bindings[subject], c.robotBindings.held) {
			wrong++
			c.t.Errorf("%s: the robot of a held lease %s holds %v, want the role's %v", when, subject, bindings[subject], c.robotBindings.held)
		}
	}
	sort.Strings(strays)
	c.t.Logf("%s robots: %d dynamic robots hold something at pachd, %d under held leases, %d journaled, %d stray, %d with wrong bindings",
		when, len(holders), len(leased), len(journaled), len(strays), wrong)
	if len(strays) > 0 {
		c.t.Errorf("%s: dynamic robots holding bindings or tokens at pachd that no lease or WAL entry covers: %v", when, strays)
	}
}

// drain ends the test as a mount's life ends: every lease revoked (as Vault's
// expiration manager does, retrying), the rollback run, and then no dynamic
// robot may hold anything at pachd.
func (c *chaos) drain() {
	t := c.t
	c.quiesce()
	c.leaseMu.Lock()
	held := make([]*lease, 0, len(c.leases))
	for _, l := range c.leases {
		held = append(held, l)
	}
	c.leases = map[int64]*lease{}
	c.leaseMu.Unlock()
	failed := 0
	for _, l := range held {
		var r *harness.Result
		for attempt := 0; attempt < 3; attempt++ {
			r = c.do(logical.RevokeOperation, l.path, l.data, func(req *logical.Request) {
				s := l.secret
				s.IssueTime = l.issueTime
				req.Secret = &s
			})
			if r.Err == nil {
				break
			}
		}
		if r.Err != nil {
			failed++
			t.Errorf("drain: revoking the lease of %v: %v", l.data["subject"], r.Err)
		}
	}
	c.quiesce()
	live, err := c.e.pachd.Tokens(c.ctx)
	if err != nil {
		t.Fatalf("GET /tokens: %v", err)
	}
	bindings, tokens := c.robotHoldings(live)
	t.Logf("drain: %d leases revoked (%d failed); dynamic robots left: %d with bindings, %d with a live token",
		len(held), failed, len(bindings), len(tokens))
	for subject, held := range bindings {
		t.Errorf("drain: %s still holds bindings %v after every lease was revoked and the rollback ran", subject, held)
	}
	for subject := range tokens {
		t.Errorf("drain: %s still has a live token after every lease was revoked and the rollback ran", subject)
	}
	c.drainStatic()
}
