package acceptance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"pachyderm-vault-plugin/test/conformance/harness"
)

// TestAcceptanceScheduledRotation: the admin token rotated by the engine itself every minute
// (rotation_period=1m), on a real server with persistent file storage, across a restart of the
// server and a SIGKILL of the plugin while a rotation is in flight. It checks that:
//
//   - each rotation happens within rotationLateness of the next_rotation the configuration
//     announced (the server's rollback tick, which runs the schedule, comes every minute);
//   - the schedule survives a restart: next_rotation is read back from storage and kept;
//   - a plugin killed while pachd holds the call that mints the new admin token (the call then
//     fails at pachd, as a pachd whose caller vanished aborts it) leaves, after the next
//     tick(s), exactly one admin-subject token alive at pachd, the configured one, and
//     rotations go on;
//   - after every rotation, exactly one admin-subject token is alive, the configured one.
//
// It waits on the server's own ticks, so it takes about eight minutes: it runs only with
// PACHYDERM_ACC_SLOW=1 as well as PACHYDERM_ACC=1 (make acceptance-slow), and logs every
// scheduled and actual rotation time.
func TestAcceptanceScheduledRotation(t *testing.T) {
	if os.Getenv("PACHYDERM_ACC_SLOW") != "1" {
		t.Skip("waits on the server's rollback ticks for about eight minutes: runs only with PACHYDERM_ACC_SLOW=1 (make acceptance-slow)")
	}
	requireAcceptance(t)
	forEachGeneration(t, func(t *testing.T, g generation) {
		p := startPachd(t, g, false)
		s := startPersistentServer(t)
		s.mountEngine()
		s.configure(p, "rotation_period=1m")
		r := rotationWatch{t: t, s: s, p: p, start: time.Now()}
		first := r.read()
		if first.period != 60 || first.next.IsZero() {
			t.Fatalf("after writing rotation_period=1m: rotation_period %d, next_rotation %v", first.period, first.next)
		}
		r.subject = first.subject
		t.Logf("configured at %s; admin subject %s; next_rotation %s", clock(r.start), r.subject, clock(first.next))

		// 1. A rotation on time.
		one := r.awaitRotation("the first scheduled rotation", first, time.Time{})
		r.expectOneAdmin("after the first rotation", one.fingerprint)

		// 2. The server restarts; the schedule it stored holds, and the next rotation is on time.
		stopped := time.Now()
		s.restart()
		t.Logf("server restarted: down at %s, unsealed at %s", clock(stopped), clock(time.Now()))
		afterRestart := r.read()
		if afterRestart.fingerprint != one.fingerprint || !afterRestart.last.Equal(one.last) {
			t.Fatalf("after the restart the configuration shows admin %s last_rotation %v, want %s %v as stored before",
				afterRestart.fingerprint, afterRestart.last, one.fingerprint, one.last)
		}
		if !afterRestart.next.Equal(one.next) {
			t.Errorf("after the restart next_rotation is %s, want %s as stored before", clock(afterRestart.next), clock(one.next))
		}
		two := r.awaitRotation("the first rotation after the server's restart", afterRestart, s.upSince)
		r.expectOneAdmin("after the rotation following the restart", two.fingerprint)

		// 3. The plugin is killed while pachd holds the call minting the next admin token.
		mint := map[int]string{1: "RestoreAuthToken", 2: "RotateRootToken"}[g.number]
		if r.subject != "pach:root" {
			mint = "RestoreAuthToken"
		}
		ctx, cancel := p.ctx()
		if err := p.SetLatency(ctx, mint, 20*time.Second); err != nil {
			t.Fatalf("latency on %s: %v", mint, err)
		}
		if err := p.InjectError(ctx, mint, 14, "the caller went away; the call was aborted", 1); err != nil {
			t.Fatalf("error on %s: %v", mint, err)
		}
		cancel()
		var killedAt time.Time
		waitFor(t, "a rotation's "+mint+" call in flight at pachd", 3*time.Minute, func() (bool, string) {
			ctx, cancel := p.ctx()
			defer cancel()
			stats, err := p.Stats(ctx)
			if err != nil {
				t.Fatalf("GET /stats: %v", err)
			}
			return stats.Writes.InFlight > 0, fmt.Sprintf("%d writes in flight", stats.Writes.InFlight)
		})
		pid := s.pluginPID()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 %d: %v", pid, err)
		}
		killedAt = time.Now()
		if !harness.WaitProcessExit(pid, 10*sec) {
			t.Fatalf("plugin process %d survived SIGKILL", pid)
		}
		t.Logf("killed plugin process %d at %s with %s in flight at pachd (scheduled %s)", pid, clock(killedAt), mint, clock(two.next))
		ctx, cancel = p.ctx()
		if err := p.ResetFaults(ctx); err != nil {
			t.Fatalf("reset faults: %v", err)
		}
		cancel()
		recovered := r.awaitRotation("the first rotation after the kill", two, killedAt)
		r.expectOneAdmin("after the rotation following the kill", recovered.fingerprint)
		t.Logf("recovered %v after the kill", recovered.last.Sub(killedAt).Round(time.Second))

		// 4. Rotations go on.
		four := r.awaitRotation("the rotation after that", recovered, time.Time{})
		r.expectOneAdmin("at the end", four.fingerprint)
		t.Logf("rotations (scheduled -> actual, lateness): %s", strings.Join(r.timeline, "; "))
	})
}

// rotationLateness: how long after its next_rotation a rotation may happen. The server's
// rollback tick comes every minute, and one a few seconds early serves the time.
const rotationLateness = 90 * time.Second

func clock(at time.Time) string { return at.UTC().Format("15:04:05.000") }

type rotationState struct {
	fingerprint string
	subject     string
	period      int
	last, next  time.Time
	lastError   string
}

type rotationWatch struct {
	t        *testing.T
	s        *server
	p        *pachd
	subject  string
	start    time.Time
	timeline []string
}

// read is the configuration's view of its admin token and rotations. A request that meets a
// plugin the server has not yet seen die fails with a 5xx; the poll asks again.
func (r *rotationWatch) read() rotationState {
	r.t.Helper()
	var secretData map[string]interface{}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		secret, err := r.s.root().Logical().Read("pachyderm/config")
		if err == nil && secret != nil {
			secretData = secret.Data
			break
		}
		lastErr = err
		if statusOf(err) != 0 && statusOf(err) < 500 {
			break
		}
		time.Sleep(time.Second)
	}
	if secretData == nil {
		r.t.Fatalf("reading pachyderm/config: %v", lastErr)
	}
	at := func(key string) time.Time {
		text, _ := secretData[key].(string)
		if text == "" {
			return time.Time{}
		}
		v, err := time.Parse(time.RFC3339Nano, text)
		if err != nil {
			r.t.Fatalf("config %s = %q: %v", key, text, err)
		}
		return v
	}
	var period int64
	if n, ok := secretData["rotation_period"].(json.Number); ok {
		period, _ = n.Int64()
	}
	state := rotationState{last: at("last_rotation"), next: at("next_rotation"), period: int(period)}
	state.fingerprint, _ = secretData["admin_token_fingerprint"].(string)
	state.subject, _ = secretData["admin_subject"].(string)
	state.lastError, _ = secretData["last_rotation_error"].(string)
	return state
}

// awaitRotation waits for a rotation after `before`, and checks it came on time: within
// rotationLateness of before's next_rotation, or of `notBefore` when the server could not tick
// before then (it was down, or the plugin was killed).
func (r *rotationWatch) awaitRotation(what string, before rotationState, notBefore time.Time) rotationState {
	r.t.Helper()
	due := before.next
	if notBefore.After(due) {
		due = notBefore
	}
	var now rotationState
	waitFor(r.t, what, time.Until(due)+rotationLateness+30*time.Second, func() (bool, string) {
		now = r.read()
		return now.last.After(before.last) && now.fingerprint != before.fingerprint,
			fmt.Sprintf("last_rotation %v, admin %s, next_rotation %v, last error %q", now.last, now.fingerprint, now.next, now.lastError)
	})
	late := now.last.Sub(due)
	r.timeline = append(r.timeline, fmt.Sprintf("%s -> %s (%+.1fs)", clock(due), clock(now.last), late.Seconds()))
	r.t.Logf("%s: due %s, done %s (%+.1fs); next_rotation %s", what, clock(due), clock(now.last), late.Seconds(), clock(now.next))
	if late < -6*time.Second || late > rotationLateness {
		r.t.Errorf("%s at %s: due %s, want within %v after it", what, clock(now.last), clock(due), rotationLateness)
	}
	// The next time counts from the scheduled one the rotation served, not from when the tick
	// came, skipping the times that passed while the server was down or the plugin dead, and one
	// within the engine's five seconds of tick tolerance, which this rotation served too.
	want := before.next.Add(time.Minute)
	for !want.After(now.last.Add(5 * time.Second)) {
		want = want.Add(time.Minute)
	}
	if !now.next.Equal(want) {
		r.t.Errorf("%s: next_rotation %s, want %s (a minute after the scheduled %s, past %s)", what, clock(now.next), clock(want), clock(before.next), clock(now.last))
	}
	return now
}

// expectOneAdmin: exactly one token of the admin subject is alive at pachd, the configured one.
func (r *rotationWatch) expectOneAdmin(what, configured string) {
	r.t.Helper()
	var alive []string
	for hash, row := range r.p.rows() {
		if row.Subject == r.subject && !row.Expired {
			alive = append(alive, "sha256:"+hash[:16])
		}
	}
	if len(alive) != 1 || alive[0] != configured {
		r.t.Errorf("%s: %s tokens alive at pachd %v, want exactly the configured one %s", what, r.subject, alive, configured)
	}
}

// ---- a server with persistent storage

// startPersistentServer starts a server on file storage (not dev mode, whose storage is in
// memory), initialised with one unseal key and unsealed, with a root token named rootToken so
// the package's helpers work as on a dev server. It stops when the test ends.
func startPersistentServer(t *testing.T) *server {
	t.Helper()
	bin := serverBinary(t)
	dir := t.TempDir()
	s := &server{t: t, bin: bin, dir: dir, pluginDir: filepath.Join(dir, "plugins"), logPath: filepath.Join(dir, "server.log")}
	if err := os.Mkdir(s.pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	s.persistentPort = freePort(t)
	s.addr = fmt.Sprintf("http://127.0.0.1:%d", s.persistentPort)
	config := fmt.Sprintf(`storage "file" {
  path = %q
}
listener "tcp" {
  address     = "127.0.0.1:%d"
  tls_disable = true
}
api_addr         = %q
disable_mlock    = true
plugin_directory = %q
log_level        = "debug"
`, filepath.Join(dir, "data"), s.persistentPort, s.addr, s.pluginDir)
	s.persistentConfig = filepath.Join(dir, "server.hcl")
	if err := os.WriteFile(s.persistentConfig, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.launchPersistent(); err != nil {
		t.Fatalf("starting %s: %v\n%s", bin, err, tail(s.log(), 4000))
	}
	t.Cleanup(s.stop)
	var init struct {
		Keys      []string `json:"unseal_keys_b64"`
		RootToken string   `json:"root_token"`
	}
	s.cliJSON("", &init, "operator", "init", "-key-shares=1", "-key-threshold=1", "-format=json")
	if len(init.Keys) != 1 || init.RootToken == "" {
		t.Fatalf("operator init gave %d unseal keys and root token %v", len(init.Keys), init.RootToken != "")
	}
	s.unsealKey = init.Keys[0]
	s.unseal()
	if out, err := s.run(init.RootToken, "token", "create", "-id="+rootToken, "-policy=root", "-orphan"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return s
}

// launchPersistent starts the server process on its configuration, appending to its log, and
// waits until it answers on its port (sealed or not).
func (s *server) launchPersistent() error {
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(s.bin, "server", "-config="+s.persistentConfig)
	cmd.Dir = s.dir
	cmd.Env = s.env("")
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("the server exited: %v", cmd.ProcessState)
		default:
		}
		if resp, err := client.Get(s.addr + "/v1/sys/seal-status"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	return fmt.Errorf("the server did not answer /v1/sys/seal-status within 30s")
}

func (s *server) unseal() {
	s.t.Helper()
	if out, err := s.run("", "operator", "unseal", s.unsealKey); err != nil {
		s.t.Fatalf("%v\n%s", err, out)
	}
	waitFor(s.t, "the server unsealed and active", 30*sec, func() (bool, string) {
		resp, err := http.Get(s.addr + "/v1/sys/health")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Sprintf("health %d", resp.StatusCode)
	})
	s.upSince = time.Now()
}

// restart stops the server as an operator does (SIGTERM), starts it again on the same storage
// and port, and unseals it.
func (s *server) restart() {
	s.t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.t.Fatalf("the server did not stop within 30s of SIGTERM")
	}
	for _, pid := range s.pluginPIDs() {
		if !harness.WaitProcessExit(pid, 10*sec) {
			s.t.Fatalf("plugin process %d outlived the server", pid)
		}
	}
	if err := s.launchPersistent(); err != nil {
		s.t.Fatalf("restarting %s: %v\n%s", s.bin, err, tail(s.log(), 4000))
	}
	s.unseal()
}
