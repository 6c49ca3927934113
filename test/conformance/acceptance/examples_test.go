package acceptance

// TestExamples runs the programs in examples/ (Python with hvac, Go with Vault's api client and
// its LifetimeWatcher, the shell script for CI) against a real server with the plugin, behind a
// pachd stand-in of each generation, and checks at the stand-in what the programs promise: the
// token is live while the program holds it, the lease is renewed at about half its TTL (the Go
// watcher: about two thirds), a new token replaces it near max_ttl and the old one is revoked
// at pachd, and at exit no token of the program is left alive.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pachyderm-vault-plugin/test/conformance/standin"
)

// The role's lifetimes and how long each program runs: 16 s covers a replacement at max_ttl
// and a few renewals of the second token.
const (
	exTTL    = 4
	exMaxTTL = 12
	exRunFor = 16
)

// exRun is what one run of an example gets.
type exRun struct {
	server                   *exServer
	mount, role              string
	config                   string // the pachctl config file it is to write
	roleID, secretID         string // for the Python example, in its environment
	roleIDFile, secretIDFile string // for the Go example, in files
	vaultToken               string // an AppRole login's token, for the shell script
}

type exExample struct {
	name string
	// prepare installs or builds the example once and returns how to start one run.
	prepare func(t *testing.T) func(r exRun) *exec.Cmd
	// eventsOnStderr: the shell script keeps stdout for the command it runs.
	eventsOnStderr bool
	// The bounds of (renewal - previous issue or renewal) / the lease's duration then.
	renewLow, renewHigh float64
	// The LifetimeWatcher renews once as it starts, before its schedule.
	renewsAtStart bool
}

// exCase is one example against one pachd generation.
type exCase struct {
	ex      exExample
	name    string
	pachd   *standin.Standin
	subject string
	run     exRun
	cmd     *exec.Cmd
	obs     exObservation
}

// TestExamples sets every run up in the test's goroutine, runs all six programs at once (they
// mostly sleep; go test's -parallel would run two at a time), then checks each in a subtest.
func TestExamples(t *testing.T) {
	if os.Getenv("PACHYDERM_ACC") != "1" {
		t.Skip("acceptance tests need a real server and run only with PACHYDERM_ACC=1")
	}
	t.Parallel()
	examples := []exExample{
		{name: "python", prepare: exPreparePython, renewLow: 0.3, renewHigh: 0.75},
		// api.LifetimeWatcher sleeps 2/3 of the lease plus a third of its 10-20% grace period
		// (70-76% of a lease), then the request: on a loaded machine, more.
		{name: "go", prepare: exPrepareGo, renewLow: 0.3, renewHigh: 0.85, renewsAtStart: true},
		// The script sleeps half the lease, then starts the CLI, which takes 0.1 s on an idle
		// machine and over 1 s (25% of a 4 s lease) on a loaded one.
		{name: "shell", prepare: exPrepareShell, eventsOnStderr: true, renewLow: 0.3, renewHigh: 0.85},
	}
	var cases []*exCase
	for _, ex := range examples {
		launch := ex.prepare(t)
		server := exStartServer(t)
		roleID, secretID := exSetUpAppRole(t, server, ex.name)
		for _, generation := range []int{1, 2} {
			c := exSetUpCase(t, ex, server, generation, roleID, secretID)
			c.cmd = launch(c.run)
			cases = append(cases, c)
		}
	}
	var wg sync.WaitGroup
	for _, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.obs = exObserve(c)
		}()
	}
	wg.Wait()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { exCheck(t, c) })
	}
}

// exSetUpAppRole enables AppRole with a role "example" whose tokens get examples/policy.hcl,
// as the examples' README has the user write it, once per mount; it returns its role_id and
// a secret_id.
func exSetUpAppRole(t *testing.T, s *exServer, name string) (string, string) {
	t.Helper()
	policy, err := os.ReadFile(filepath.Join(repoRoot, "examples", "policy.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(policy), `"pachyderm/creds/ci"`) {
		t.Fatal(`examples/policy.hcl no longer names "pachyderm/creds/ci"`)
	}
	s.Must(t, "POST", "sys/auth/approle", exRootToken, map[string]any{"type": "approle"})
	var policies []string
	for _, generation := range []int{1, 2} {
		mount := fmt.Sprintf("pachyderm-g%d", generation)
		p := fmt.Sprintf("example-%s-g%d", name, generation)
		s.Must(t, "PUT", "sys/policies/acl/"+p, exRootToken, map[string]any{
			"policy": strings.ReplaceAll(string(policy), "pachyderm/creds/ci", mount+"/creds/example"),
		})
		policies = append(policies, p)
	}
	// token_ttl above the role's max_ttl: each lease lives under the login that read it.
	s.Must(t, "POST", "auth/approle/role/example", exRootToken, map[string]any{
		"token_policies": policies, "token_ttl": "60s", "token_max_ttl": "120s",
	})
	role := s.Must(t, "GET", "auth/approle/role/example/role-id", exRootToken, nil)
	secret := s.Must(t, "POST", "auth/approle/role/example/secret-id", exRootToken, map[string]any{})
	return exString(role, "data", "role_id"), exString(secret, "data", "secret_id")
}

// exSetUpCase starts the stand-in, mounts the plugin in front of it and writes the role.
func exSetUpCase(t *testing.T, ex exExample, server *exServer, generation int, roleID, secretID string) *exCase {
	t.Helper()
	c := &exCase{ex: ex, name: fmt.Sprintf("%s/pachd%dx", ex.name, generation)}
	c.pachd = exStartStandin(t, generation)
	mount := fmt.Sprintf("pachyderm-g%d", generation)
	exMount(t, server, mount, c.pachd)
	c.subject = fmt.Sprintf("robot:example-%s-g%d", ex.name, generation)
	server.Must(t, "PUT", mount+"/roles/example", exRootToken, map[string]any{
		"subject": c.subject, "ttl": fmt.Sprint(exTTL), "max_ttl": fmt.Sprint(exMaxTTL),
	})
	dir := t.TempDir()
	c.run = exRun{server: server, mount: mount, role: "example",
		config: filepath.Join(dir, "pachyderm-config.json"), roleID: roleID, secretID: secretID,
		roleIDFile: filepath.Join(dir, "role-id"), secretIDFile: filepath.Join(dir, "secret-id")}
	for file, value := range map[string]string{c.run.roleIDFile: roleID, c.run.secretIDFile: secretID} {
		if err := os.WriteFile(file, []byte(value+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	login := server.Must(t, "POST", "auth/approle/login", "", map[string]any{"role_id": roleID, "secret_id": secretID})
	c.run.vaultToken = exString(login, "auth", "client_token")
	return c
}

func exString(m map[string]any, keys ...string) string {
	var v any = m
	for _, k := range keys {
		mm, _ := v.(map[string]any)
		v = mm[k]
	}
	s, _ := v.(string)
	return s
}

// exEvent is one line a program logs.
type exEvent struct {
	Event         string    `json:"event"`
	Time          time.Time `json:"time"`
	LeaseID       string    `json:"lease_id"`
	OldLeaseID    string    `json:"old_lease_id"`
	LeaseDuration int       `json:"lease_duration"`
	Reason        string    `json:"reason"`
}

// exSnapshot is the stand-in's live tokens of the subject, then the config file, as polled.
type exSnapshot struct {
	at     time.Time
	live   map[string]bool
	exists bool
	hash   string
	mode   os.FileMode
}

// exObservation is what one run showed, gathered without a *testing.T.
type exObservation struct {
	events    []exEvent
	leaseHash map[string]string    // lease id -> its token's hash, from the config file
	tokens    []string             // every token value seen, for the leak check
	goneAt    map[string]time.Time // lease id -> when its token was seen gone at pachd after "revoked"
	problems  []string
	snapshots []exSnapshot
	output    string
	runErr    error
	elapsed   time.Duration
	// After exit:
	configErr    error // from os.Stat on the config file
	left         map[string]bool
	leftErr      error
	history      []standin.HistoryToken
	historyError error
}

// exReadConfig returns the token in a pachctl config file and the file's mode.
func exReadConfig(path string) (token string, mode os.FileMode, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", 0, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", 0, err
	}
	var config struct {
		V2 struct {
			ActiveContext string `json:"active_context"`
			Contexts      map[string]struct {
				PachdAddress string `json:"pachd_address"`
				SessionToken string `json:"session_token"`
			} `json:"contexts"`
		} `json:"v2"`
	}
	if err := json.Unmarshal(b, &config); err != nil {
		return "", 0, fmt.Errorf("%s: %w", path, err)
	}
	c := config.V2.Contexts[config.V2.ActiveContext]
	if c.SessionToken == "" || c.PachdAddress == "" {
		return "", 0, fmt.Errorf("%s: the active context has no session_token or pachd_address", path)
	}
	return c.SessionToken, fi.Mode().Perm(), nil
}

// exTokensOf lists the subject's tokens at pachd: hash -> live (false: expired, still listed;
// 2.x lists expired tokens, 1.x drops them). A revoked token is not listed at all.
func exTokensOf(ctx context.Context, pachd *standin.Standin, subject string) (map[string]bool, error) {
	tokens, err := pachd.Tokens(ctx)
	if err != nil {
		return nil, err
	}
	listed := map[string]bool{}
	for _, tok := range tokens {
		if tok.Subject == subject {
			listed[tok.Hash] = !tok.Expired
		}
	}
	return listed, nil
}

// exObserve runs the program to its end, following its events, its config file and the
// stand-in's tokens.
func exObserve(c *exCase) exObservation {
	obs := exObservation{leaseHash: map[string]string{}, goneAt: map[string]time.Time{}}
	cmd := c.cmd
	cmd.Dir = filepath.Dir(c.run.config)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so a stuck run is killed whole
	// Only what the run gives: no VAULT_*/BAO_* of the caller's.
	env := []string{"HOME=" + cmd.Dir, "VAULT_ADDR=" + c.run.server.Addr, "BAO_ADDR=" + c.run.server.Addr}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") && !strings.HasPrefix(kv, "BAO_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, cmd.Env...)
	var mu sync.Mutex
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		obs.problems = append(obs.problems, fmt.Sprintf(format, args...))
	}
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		var stderr io.ReadCloser
		if stderr, err = cmd.StderrPipe(); err == nil {
			if c.ex.eventsOnStderr {
				stdout, stderr = stderr, stdout
			}
			err = cmd.Start()
			if err == nil {
				exFollow(c, &obs, &mu, fail, stdout, stderr)
			}
		}
	}
	if err != nil {
		obs.runErr = err
		return obs
	}

	// After exit: the file, the subject's tokens, history. The programs revoke (synchronously)
	// before they exit; half a second covers a slow answer, and is less than a lease has left.
	ctx := context.Background()
	_, obs.configErr = os.Stat(c.run.config)
	for i := 0; i < 5; i++ {
		if obs.left, obs.leftErr = exTokensOf(ctx, c.pachd, c.subject); obs.leftErr == nil && len(obs.left) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	obs.history, obs.historyError = c.pachd.TokenHistory(ctx)
	return obs
}

// exFollow reads the events (checking the file and pachd as they come), keeps the other
// stream, polls the stand-in and the file, and waits for the program.
func exFollow(c *exCase, obs *exObservation, mu *sync.Mutex, fail func(string, ...any), events, other io.Reader) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var output syncBuffer
	var readers sync.WaitGroup
	readers.Add(2)
	start := time.Now()
	go func() {
		defer readers.Done()
		_, _ = io.Copy(&output, other)
	}()
	go func() {
		defer readers.Done()
		scanner := bufio.NewScanner(events)
		for scanner.Scan() {
			line := scanner.Text()
			fmt.Fprintln(&output, line)
			var e exEvent
			if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &e) != nil || e.Event == "" {
				continue
			}
			mu.Lock()
			obs.events = append(obs.events, e)
			mu.Unlock()
			switch e.Event {
			case "issued", "replaced": // the program wrote the file before saying so
				token, _, err := exReadConfig(c.run.config)
				if err != nil {
					fail("%s %s: the config file: %v", e.Event, e.LeaseID, err)
					continue
				}
				mu.Lock()
				obs.leaseHash[e.LeaseID] = hashToken(token)
				obs.tokens = append(obs.tokens, token)
				mu.Unlock()
			case "revoked":
				mu.Lock()
				hash := obs.leaseHash[e.LeaseID]
				mu.Unlock()
				// The program logs this once Vault answered its (synchronous) revocation, so
				// the token must be gone from pachd's list already: not expired, revoked.
				deadline := time.Now().Add(500 * time.Millisecond)
				for {
					listed, err := exTokensOf(ctx, c.pachd, c.subject)
					if _, there := listed[hash]; err == nil && !there {
						mu.Lock()
						obs.goneAt[e.LeaseID] = time.Now()
						mu.Unlock()
						break
					}
					if time.Now().After(deadline) {
						fail("lease %s revoked (%s), but its token is still listed at pachd 0.5 s later", e.LeaseID, e.Reason)
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		}
	}()
	polled := make(chan struct{})
	go func() { // tokens first, then the file: a program writes the new file before revoking
		defer close(polled)
		ticker := time.NewTicker(200 * time.Millisecond)
		defer ticker.Stop()
		for i := 0; i < (exRunFor+30)*5; i++ {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			listed, err := exTokensOf(ctx, c.pachd, c.subject)
			if err != nil {
				continue
			}
			snap := exSnapshot{at: time.Now(), live: listed}
			if token, mode, err := exReadConfig(c.run.config); err == nil {
				snap.exists, snap.hash, snap.mode = true, hashToken(token), mode
			} else if !os.IsNotExist(err) {
				fail("reading the config file: %v", err)
			}
			mu.Lock()
			obs.snapshots = append(obs.snapshots, snap)
			mu.Unlock()
		}
	}()

	waited := make(chan error, 1)
	go func() {
		readers.Wait() // read the pipes to their end before Wait closes them
		waited <- c.cmd.Wait()
	}()
	select {
	case obs.runErr = <-waited:
	case <-time.After((exRunFor + 30) * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-waited
		obs.runErr = fmt.Errorf("the program did not stop within %d s", exRunFor+30)
	}
	obs.elapsed = time.Since(start)
	cancel()
	<-polled
	obs.output = output.String()
}

// exCheck checks one run's observation.
func exCheck(t *testing.T, c *exCase) {
	obs := &c.obs
	t.Logf("ran %.1f s; output:\n%s", obs.elapsed.Seconds(), obs.output)
	if obs.runErr != nil {
		t.Errorf("the program failed: %v", obs.runErr)
	}
	for _, p := range obs.problems {
		t.Error(p)
	}

	// At exit: the file gone, no token of the subject alive at pachd.
	if !os.IsNotExist(obs.configErr) {
		t.Errorf("the config file is still there after exit (%v)", obs.configErr)
	}
	if len(obs.left) != 0 || obs.leftErr != nil {
		t.Errorf("after exit, %d token(s) of %s still listed at pachd, not revoked (%v)", len(obs.left), c.subject, obs.leftErr)
	}

	exCheckEvents(t, c.ex, obs)

	// While a program held a token (its config file named it), the token was live at pachd,
	// and the file was 0600.
	held := 0
	first := ""
	if len(obs.events) > 0 {
		first = obs.leaseHash[obs.events[0].LeaseID]
	}
	var firstHeldLast time.Time
	for _, s := range obs.snapshots {
		if !s.exists {
			continue
		}
		held++
		if !s.live[s.hash] {
			t.Errorf("at %s the config file held a token not live at pachd", s.at.Format("15:04:05.000"))
		}
		if s.mode != 0o600 {
			t.Errorf("the config file's mode is %o, want 600", s.mode)
		}
		if s.hash == first && s.live[s.hash] {
			firstHeldLast = s.at
		}
	}
	if held < exRunFor*5/2 {
		t.Errorf("only %d of %d polls found the config file", held, len(obs.snapshots))
	}
	if len(obs.events) > 0 && firstHeldLast.Sub(obs.events[0].Time) < (exTTL+2)*time.Second {
		t.Errorf("the first token was seen held and live until %.1f s after its issue, want beyond its ttl (%d s)",
			firstHeldLast.Sub(obs.events[0].Time).Seconds(), exTTL)
	}

	// Each lease is one token at pachd, and no token reached the output.
	if obs.historyError != nil {
		t.Fatal(obs.historyError)
	}
	issuedAtPachd := 0
	for _, h := range obs.history {
		if h.Subject == c.subject {
			issuedAtPachd++
		}
	}
	if issuedAtPachd != len(obs.leaseHash) {
		t.Errorf("pachd issued %d tokens for %s, the program logged %d", issuedAtPachd, c.subject, len(obs.leaseHash))
	}
	for _, token := range obs.tokens {
		if strings.Contains(obs.output, token) {
			t.Errorf("the program printed a token")
		}
	}
}

// exCheckEvents checks the programs' lines: issued, renewed at about half the lease, replaced
// near max_ttl, the old lease revoked (and its token gone at pachd), the last revoked at exit.
func exCheckEvents(t *testing.T, ex exExample, obs *exObservation) {
	t.Helper()
	events := obs.events
	if len(events) == 0 || events[0].Event != "issued" {
		t.Fatalf("the first event is not issued: %+v", events)
	}
	first := events[0]
	previous := map[string]exEvent{}
	revoked := map[string]exEvent{}
	renewalsOfFirst := 0
	var replaced []exEvent
	for _, e := range events {
		switch e.Event {
		case "issued", "replaced":
			previous[e.LeaseID] = e
			if e.Event == "replaced" {
				replaced = append(replaced, e)
			}
		case "renewed":
			p, ok := previous[e.LeaseID]
			if !ok {
				t.Errorf("renewed a lease it does not hold: %s", e.LeaseID)
				continue
			}
			previous[e.LeaseID] = e
			gap := e.Time.Sub(p.Time).Seconds()
			if ex.renewsAtStart && p.Event != "renewed" && gap < 0.5 {
				continue
			}
			if e.LeaseID == first.LeaseID {
				renewalsOfFirst++
			}
			if p.LeaseDuration <= 0 {
				t.Errorf("renewed %s after a lease of %d s", e.LeaseID, p.LeaseDuration)
				continue
			}
			if ratio := gap / float64(p.LeaseDuration); ratio < ex.renewLow || ratio > ex.renewHigh {
				t.Errorf("renewed %s %.2f s after its last %s (lease %d s): %.0f%% of the lease, want %.0f%%-%.0f%%",
					e.LeaseID, gap, p.Event, p.LeaseDuration, 100*ratio, 100*ex.renewLow, 100*ex.renewHigh)
			}
		case "revoked":
			revoked[e.LeaseID] = e
		}
	}
	if renewalsOfFirst < 2 {
		t.Errorf("the first lease was renewed %d times, want at least 2", renewalsOfFirst)
	}
	if len(replaced) == 0 {
		t.Fatalf("no replacement within %d s (max_ttl %d s)", exRunFor, exMaxTTL)
	}
	r := replaced[0]
	if r.OldLeaseID != first.LeaseID || r.LeaseID == first.LeaseID {
		t.Errorf("the replacement %+v does not follow the first lease %s", r, first.LeaseID)
	}
	if at := r.Time.Sub(first.Time).Seconds(); at < exMaxTTL-exTTL-1.5 || at > exMaxTTL {
		t.Errorf("replaced %.1f s after issue, want near max_ttl (%.1f-%d s)", at, exMaxTTL-exTTL-1.5, exMaxTTL)
	}
	if obs.leaseHash[r.LeaseID] == obs.leaseHash[first.LeaseID] {
		t.Errorf("the replacement wrote the same token")
	}
	if v, ok := revoked[first.LeaseID]; !ok || v.Reason != "replaced" || v.Time.Before(r.Time) {
		t.Errorf("the first lease was not revoked after its replacement: %+v", v)
	} else if _, ok := obs.goneAt[first.LeaseID]; !ok {
		t.Errorf("the first lease's token was not seen revoked at pachd")
	}
	for lease := range obs.leaseHash {
		if _, ok := revoked[lease]; !ok {
			t.Errorf("lease %s was never revoked", lease)
		}
	}
	last := events[len(events)-1]
	if last.Event != "revoked" || last.Reason != "exit" || last.LeaseID != replaced[len(replaced)-1].LeaseID {
		t.Errorf("the last event is not the current lease revoked at exit: %+v", last)
	}
}

// exPreparePython installs requirements.txt into a venv in the user's cache, outside the
// repository, once per pinned hvac version.
func exPreparePython(t *testing.T) func(exRun) *exec.Cmd {
	t.Helper()
	dir := filepath.Join(repoRoot, "examples", "python")
	requirements, err := os.ReadFile(filepath.Join(dir, "requirements.txt"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^hvac==(\S+)`).FindSubmatch(requirements)
	if m == nil {
		t.Fatal("requirements.txt does not pin hvac (hvac==<version>)")
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(home, ".cache")
	}
	venv := filepath.Join(cache, "pachyderm-vault-plugin", "venv-hvac-"+string(m[1]))
	python := filepath.Join(venv, "bin", "python")
	marker := filepath.Join(venv, "installed-requirements.txt")
	if got, err := os.ReadFile(marker); err != nil || string(got) != string(requirements) {
		python3, err := exec.LookPath("python3")
		if err != nil {
			t.Fatal("the Python example needs python3")
		}
		_ = os.RemoveAll(venv)
		for _, args := range [][]string{
			{python3, "-m", "venv", venv},
			{python, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", filepath.Join(dir, "requirements.txt")},
		} {
			if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		if err := os.WriteFile(marker, requirements, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return func(r exRun) *exec.Cmd {
		cmd := exec.Command(python, filepath.Join(dir, "pachyderm_token.py"), "--mount", r.mount, "--role", r.role,
			"--config", r.config, "--run-for", fmt.Sprint(exRunFor))
		cmd.Env = []string{"VAULT_ROLE_ID=" + r.roleID, "VAULT_SECRET_ID=" + r.secretID}
		return cmd
	}
}

// exPrepareGo builds the Go example (its module's dependencies come through the module proxy).
func exPrepareGo(t *testing.T) func(exRun) *exec.Cmd {
	t.Helper()
	binary := filepath.Join(t.TempDir(), "pachyderm-token")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Dir = filepath.Join(repoRoot, "examples", "go")
	build.Env = append(os.Environ(), "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build in examples/go: %v\n%s", err, out)
	}
	return func(r exRun) *exec.Cmd {
		return exec.Command(binary, "--mount", r.mount, "--role", r.role, "--config", r.config,
			"--role-id-file", r.roleIDFile, "--secret-id-file", r.secretIDFile, "--run-for", fmt.Sprint(exRunFor))
	}
}

// exPrepareShell runs the script around a command that checks the file and sleeps.
func exPrepareShell(t *testing.T) func(exRun) *exec.Cmd {
	t.Helper()
	script := filepath.Join(repoRoot, "examples", "shell", "pachyderm-token.sh")
	if _, err := os.Stat(script); err != nil {
		t.Fatal(err)
	}
	return func(r exRun) *exec.Cmd {
		cmd := exec.Command("bash", script, "--mount", r.mount, "--role", r.role, "--config", r.config, "--",
			"sh", "-c", fmt.Sprintf(`test -s "$PACH_CONFIG" && sleep %d`, exRunFor))
		cmd.Env = []string{"VAULT_BIN=" + r.server.Bin, "VAULT_TOKEN=" + r.vaultToken}
		return cmd
	}
}
