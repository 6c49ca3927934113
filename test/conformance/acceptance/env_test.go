package acceptance

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/encoding/protowire"

	"pachyderm-vault-plugin/test/conformance/harness"
	"pachyderm-vault-plugin/test/conformance/standin"
)

// Environment:
//
//	PACHYDERM_ACC=1         run the tests (every test skips otherwise)
//	BAO_BIN, VAULT_BIN      the server binary; else scripts/acceptance-server.sh finds one
//	PLUGIN_BUILD_DIR        pachyderm, node/pachyderm and pachd-standin.js (default ../../../build)
//	PACHYDERM_PLUGIN_PATH, PACHD_STANDIN_PATH   override those files
//	PACKAGE_JSON            the package.json whose version the plugin reports (default ../../../package.json)
//	ACCEPTANCE_VERBOSE=1    print the server's log of every test, not only of failed ones

const rootToken = "root"

var repoRoot = func() string {
	p, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		panic(err)
	}
	return p
}()

// requireAcceptance skips the test unless PACHYDERM_ACC=1, and runs it in parallel with the others.
func requireAcceptance(t *testing.T) {
	t.Helper()
	if os.Getenv("PACHYDERM_ACC") != "1" {
		t.Skip("acceptance tests need a real server and run only with PACHYDERM_ACC=1 (make acceptance)")
	}
	t.Parallel()
}

func buildDir() string {
	if d := os.Getenv("PLUGIN_BUILD_DIR"); d != "" {
		return d
	}
	return filepath.Join(repoRoot, "build")
}

func mustExist(t *testing.T, path, what string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("%s %s is missing (make build): %v", what, abs, err)
	}
	return abs
}

func pluginExecutable(t *testing.T) string {
	p := os.Getenv("PACHYDERM_PLUGIN_PATH")
	if p == "" {
		p = filepath.Join(buildDir(), "pachyderm")
	}
	return mustExist(t, p, "the plugin executable")
}

func standinScript(t *testing.T) string {
	p := os.Getenv("PACHD_STANDIN_PATH")
	if p == "" {
		p = filepath.Join(buildDir(), "pachd-standin.js")
	}
	return mustExist(t, p, "the pachd stand-in")
}

// packageVersion is package.json's version: the plugin reports "v" + it.
func packageVersion(t *testing.T) string {
	t.Helper()
	p := os.Getenv("PACKAGE_JSON")
	if p == "" {
		p = filepath.Join(repoRoot, "package.json")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading package.json: %v", err)
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil || pkg.Version == "" {
		t.Fatalf("package.json %s has no version (%v)", p, err)
	}
	return pkg.Version
}

var (
	serverBinOnce sync.Once
	serverBinPath string
	serverBinErr  error
)

// serverBinary is BAO_BIN, VAULT_BIN, or what scripts/acceptance-server.sh unpacks.
func serverBinary(t *testing.T) string {
	t.Helper()
	serverBinOnce.Do(func() {
		for _, v := range []string{"BAO_BIN", "VAULT_BIN"} {
			if p := os.Getenv(v); p != "" {
				serverBinPath, serverBinErr = filepath.Abs(p)
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(repoRoot, "scripts", "acceptance-server.sh"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			serverBinErr = fmt.Errorf("scripts/acceptance-server.sh: %v: %s", err, strings.TrimSpace(stderr.String()))
			return
		}
		serverBinPath = strings.TrimSpace(string(out))
	})
	if serverBinErr != nil {
		t.Fatalf("no server binary (set BAO_BIN or VAULT_BIN): %v", serverBinErr)
	}
	return serverBinPath
}

// ---- pachd generations

type generation struct {
	name    string
	number  int
	version string
	// userPrefix is the prefix of people's subjects the generation issues tokens for.
	userPrefix string
}

// user is a person's subject at this generation: user:<name> on 2.x, okta:<name> on 1.x (the
// stand-in's identity provider).
func (g generation) user(name string) string { return g.userPrefix + ":" + name }

var generations = []generation{
	{name: "pachd-1.13.4", number: 1, version: "1.13.4", userPrefix: "okta"},
	{name: "pachd-2.12.0", number: 2, version: "2.12.0", userPrefix: "user"},
}

// forEachGeneration runs fn as a parallel subtest per pachd generation.
func forEachGeneration(t *testing.T, fn func(t *testing.T, g generation)) {
	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			fn(t, g)
		})
	}
}

// ---- bounded waiting

// waitFor polls check every interval until it reports done or timeout passes, then fails the
// test with the last detail it gave.
func waitFor(t *testing.T, what string, timeout time.Duration, check func() (bool, string)) {
	t.Helper()
	interval := 100 * time.Millisecond
	deadline := time.Now().Add(timeout)
	detail := ""
	for attempt := 0; attempt < int(timeout/interval)+2; attempt++ {
		var done bool
		done, detail = check()
		if done {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(interval)
	}
	t.Fatalf("%s: not within %v (%s)", what, timeout, detail)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// ---- the server

// server is one dev-mode Vault or OpenBao process on 127.0.0.1 with its own plugin directory.
type server struct {
	t         *testing.T
	bin       string
	addr      string
	dir       string // working directory and HOME of every command
	pluginDir string
	logPath   string
	cmd       *exec.Cmd
	exited    chan struct{}

	// A server on persistent storage (startPersistentServer) restarts on these.
	persistentPort   int
	persistentConfig string
	unsealKey        string
	upSince          time.Time
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer starts a dev server and stops it when the test ends.
func startServer(t *testing.T) *server {
	t.Helper()
	bin := serverBinary(t)
	dir := t.TempDir()
	s := &server{t: t, bin: bin, dir: dir, pluginDir: filepath.Join(dir, "plugins"), logPath: filepath.Join(dir, "server.log")}
	if err := os.Mkdir(s.pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "server.hcl")
	if err := os.WriteFile(config, []byte(fmt.Sprintf("plugin_directory = %q\n", s.pluginDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Another process may take the free port between its discovery and the server's bind.
	for attempt := 1; ; attempt++ {
		err := s.launch(config)
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("starting %s: %v\n%s", bin, err, tail(s.log(), 4000))
		}
		t.Logf("starting %s (attempt %d): %v", bin, attempt, err)
	}
	t.Cleanup(s.stop)
	return s
}

func (s *server) launch(config string) error {
	port := freePort(s.t)
	s.addr = fmt.Sprintf("http://127.0.0.1:%d", port)
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(s.bin, "server", "-dev", "-dev-root-token-id="+rootToken,
		fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", port), "-dev-no-store-token", "-log-level=debug", "-config="+config)
	cmd.Dir = s.dir
	cmd.Env = s.env(rootToken)
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
		resp, err := client.Get(s.addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	return errors.New("the server did not answer /v1/sys/health within 30s")
}

func (s *server) log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// stop ends the server (SIGTERM, SIGKILL after 15s) and any plugin process it left behind.
func (s *server) stop() {
	t := s.t
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			t.Errorf("the server did not stop within 15s of SIGTERM; killing it")
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	for _, pid := range s.pluginPIDs() {
		if !harness.WaitProcessExit(pid, 5*time.Second) {
			t.Errorf("plugin process %d outlived the server; killing it", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if t.Failed() || os.Getenv("ACCEPTANCE_VERBOSE") == "1" {
		t.Logf("server log (%s):\n%s", s.addr, tail(s.log(), 12000))
	}
}

// env is the environment of the server's commands: this process's, without any Vault or
// OpenBao setting it may carry, HOME in the test's directory, and the address and token under
// both products' names.
func (s *server) env(token string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "VAULT_") || strings.HasPrefix(kv, "BAO_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+s.dir, "VAULT_ADDR="+s.addr, "BAO_ADDR="+s.addr)
	if token != "" {
		env = append(env, "VAULT_TOKEN="+token, "BAO_TOKEN="+token)
	}
	return env
}

// run runs the server binary as a CLI with token, in the test's directory.
func (s *server) run(token string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Dir = s.dir
	cmd.Env = s.env(token)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), fmt.Errorf("%s %s: %v", filepath.Base(s.bin), strings.Join(args, " "), err)
	}
	return stdout.String(), nil
}

// cli runs a command as root and fails the test if it fails.
func (s *server) cli(args ...string) string {
	s.t.Helper()
	out, err := s.run(rootToken, args...)
	if err != nil {
		s.t.Fatalf("%v\n%s", err, out)
	}
	return out
}

// isVault says whether the server is HashiCorp Vault (its CLI says "Vault v…"), not OpenBao.
func (s *server) isVault() bool {
	s.t.Helper()
	return strings.HasPrefix(strings.TrimSpace(s.cli("version")), "Vault ")
}

// cliJSON runs a command as token and decodes its answer; args must ask for -format=json.
func (s *server) cliJSON(token string, out interface{}, args ...string) {
	s.t.Helper()
	text, err := s.run(token, args...)
	if err != nil {
		s.t.Fatalf("%v\n%s", err, text)
	}
	if err := json.Unmarshal([]byte(text), out); err != nil {
		s.t.Fatalf("%s: decoding %q: %v", strings.Join(args, " "), tail(text, 2000), err)
	}
}

// sh runs shell text as root, with `vault` meaning this server's binary, so the README's
// commands run as an operator types them (OpenBao's `bao` takes the same arguments).
func (s *server) sh(text string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script := "set -euo pipefail\nvault() { \"$ACCEPTANCE_SERVER_BIN\" \"$@\"; }\n" + text
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = s.dir
	cmd.Env = append(s.env(rootToken), "ACCEPTANCE_SERVER_BIN="+s.bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("shell:\n%s\nfailed: %v\n%s", text, err, out)
	}
	return string(out)
}

// client is the Go API client for the server with token; it never retries, so a failure shows.
func (s *server) client(token string) *api.Client {
	s.t.Helper()
	config := api.DefaultConfig()
	config.Address = s.addr
	config.MaxRetries = 0
	config.Timeout = 60 * time.Second
	c, err := api.NewClient(config)
	if err != nil {
		s.t.Fatalf("api client: %v", err)
	}
	c.SetToken(token)
	return c
}

func (s *server) root() *api.Client { return s.client(rootToken) }

// pluginPIDs lists the processes running a file of this server's plugin directory, the
// executable itself or a script's interpreter.
func (s *server) pluginPIDs() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for _, arg := range strings.Split(string(b), "\x00") {
			if strings.HasPrefix(arg, s.pluginDir+string(os.PathSeparator)) && harness.ProcessAlive(pid) {
				pids = append(pids, pid)
				break
			}
		}
	}
	sort.Ints(pids)
	return pids
}

// pluginPID waits until exactly one plugin process runs (the catalog may run others briefly to
// ask for versions) and returns it.
func (s *server) pluginPID() int {
	s.t.Helper()
	var pid int
	waitFor(s.t, "exactly one plugin process", 15*time.Second, func() (bool, string) {
		pids := s.pluginPIDs()
		if len(pids) == 1 {
			pid = pids[0]
			return true, ""
		}
		return false, fmt.Sprintf("plugin processes %v", pids)
	})
	return pid
}

func processCommand(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
}

// mountEngine installs, registers and mounts the plugin at pachyderm/ with scripts/register,
// the README's `make register`.
func (s *server) mountEngine() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot, "scripts", "register"))
	cmd.Env = append(s.env(rootToken), "PLUGIN_DIR="+s.pluginDir, "PLUGIN_FILE="+pluginExecutable(s.t), "VAULT_BIN="+s.bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("scripts/register: %v\n%s", err, out)
	}
}

// configure writes pachyderm/config for p, the admin token from a file as the README does.
func (s *server) configure(p *pachd, extra ...string) {
	s.t.Helper()
	tokenFile := filepath.Join(s.dir, "admin-token.txt")
	if err := os.WriteFile(tokenFile, []byte(p.RootToken), 0o600); err != nil {
		s.t.Fatal(err)
	}
	args := []string{"write", "pachyderm/config", "pachd_address=" + p.PachdAddress, "admin_token=@" + tokenFile}
	if p.caFile != "" {
		args = append(args, "pachd_tls_ca=@"+p.caFile)
	}
	s.cli(append(args, extra...)...)
}

// adminFingerprint is the configuration's admin_token_fingerprint.
func (s *server) adminFingerprint() string {
	s.t.Helper()
	secret, err := s.root().Logical().Read("pachyderm/config")
	if err != nil || secret == nil {
		s.t.Fatalf("reading pachyderm/config: %v", err)
	}
	fp, _ := secret.Data["admin_token_fingerprint"].(string)
	if !strings.HasPrefix(fp, "sha256:") {
		s.t.Fatalf("pachyderm/config has no admin_token_fingerprint: %v", secret.Data)
	}
	return fp
}

// ---- leases

// lease is one issued token as an answer shows it.
type lease struct {
	ID      string
	Token   string
	Subject string
}

// table reads the CLI's table output ("Key  Value" rows) into a map.
func table(out string) map[string]string {
	rows := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] == "Key" || strings.HasPrefix(fields[0], "---") {
			continue
		}
		rows[fields[0]] = strings.Join(fields[1:], " ")
	}
	return rows
}

func leaseFromTable(t *testing.T, out string) lease {
	t.Helper()
	rows := table(out)
	l := lease{ID: rows["lease_id"], Token: rows["user_token"], Subject: rows["subject"]}
	if l.ID == "" || l.Token == "" || l.Subject == "" {
		t.Fatalf("no lease_id, user_token and subject in:\n%s", out)
	}
	return l
}

// leaseOf checks an issuing answer: leaseOf(t, what)(client.Logical().Read(path)).
func leaseOf(t *testing.T, what string) func(*api.Secret, error) lease {
	return func(secret *api.Secret, err error) lease {
		t.Helper()
		return leaseFromSecret(t, what, secret, err)
	}
}

func leaseFromSecret(t *testing.T, what string, secret *api.Secret, err error) lease {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if secret == nil || secret.LeaseID == "" {
		t.Fatalf("%s: no lease in %+v", what, secret)
	}
	token, _ := secret.Data["user_token"].(string)
	subject, _ := secret.Data["subject"].(string)
	if token == "" || subject == "" {
		t.Fatalf("%s: no user_token or subject in %v", what, secret.Data)
	}
	return lease{ID: secret.LeaseID, Token: token, Subject: subject}
}

// statusOf is the HTTP status of a failed API call (0 if it did not fail with one).
func statusOf(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// leaseExists asks sys/leases/lookup whether Vault still holds the lease.
func (s *server) leaseExists(id string) bool {
	s.t.Helper()
	_, err := s.root().Logical().Write("sys/leases/lookup", map[string]interface{}{"lease_id": id})
	if err == nil {
		return true
	}
	var re *api.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusBadRequest {
		return false
	}
	s.t.Fatalf("sys/leases/lookup %s: %v", id, err)
	return false
}

// ---- the pachd stand-in

type pachd struct {
	*standin.Standin
	t      *testing.T
	gen    generation
	caFile string // the CA of pachd's certificate when it serves TLS

	connMu sync.Mutex
	conn   *grpc.ClientConn
}

// startPachd starts a stand-in playing g (with a TLS certificate of a private CA when tls).
func startPachd(t *testing.T, g generation, withTLS bool) *pachd {
	t.Helper()
	p := &pachd{t: t, gen: g}
	options := standin.Options{Script: standinScript(t), Generation: g.number, PachdVersion: g.version}
	if withTLS {
		dir := t.TempDir()
		certFile, keyFile := filepath.Join(dir, "pachd.pem"), filepath.Join(dir, "pachd-key.pem")
		p.caFile = filepath.Join(dir, "pachd-ca.pem")
		writeCertificates(t, p.caFile, certFile, keyFile)
		options.Args = []string{"--tls-cert", certFile, "--tls-key", keyFile}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := standin.Start(ctx, options)
	if err != nil {
		t.Fatalf("starting the pachd stand-in: %v", err)
	}
	p.Standin = s
	t.Cleanup(func() {
		p.connMu.Lock()
		if p.conn != nil {
			_ = p.conn.Close()
		}
		p.connMu.Unlock()
		if err := s.Stop(); err != nil {
			t.Errorf("stopping the pachd stand-in: %v", err)
		}
		if t.Failed() {
			t.Logf("pachd stand-in stderr:\n%s", tail(s.Stderr(), 4000))
		}
	})
	if s.Generation != g.number || s.TLS != withTLS {
		t.Fatalf("the stand-in plays generation %d (tls %v), want %d (tls %v)", s.Generation, s.TLS, g.number, withTLS)
	}
	return p
}

// writeCertificates makes a private CA and a certificate for 127.0.0.1 it signs.
func writeCertificates(t *testing.T, caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "acceptance pachd CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(path, kind string, der []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(caFile, "CERTIFICATE", caDER)
	write(certFile, "CERTIFICATE", leafDER)
	write(keyFile, "PRIVATE KEY", keyDER)
}

func (p *pachd) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 15*time.Second)
}

// grpcConn reaches pachd as a pachctl would, over TLS with the CA when it serves TLS.
func (p *pachd) grpcConn() *grpc.ClientConn {
	p.t.Helper()
	if p.caFile == "" {
		conn, err := p.Conn()
		if err != nil {
			p.t.Fatalf("connecting to pachd: %v", err)
		}
		return conn
	}
	p.connMu.Lock()
	defer p.connMu.Unlock()
	if p.conn == nil {
		pemBytes, err := os.ReadFile(p.caFile)
		if err != nil {
			p.t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pemBytes)
		creds := credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
		conn, err := grpc.NewClient("passthrough:///"+p.Address, grpc.WithTransportCredentials(creds))
		if err != nil {
			p.t.Fatalf("connecting to pachd: %v", err)
		}
		p.conn = conn
	}
	return p.conn
}

// whoAmI asks pachd whose token this is (WhoAmIResponse.username, field 1 in both generations).
func (p *pachd) whoAmI(token string) (string, error) {
	ctx, cancel := p.ctx()
	defer cancel()
	reply, err := standin.Invoke(ctx, p.grpcConn(), "/"+standin.AuthService(p.gen.number)+"/WhoAmI", token, nil)
	if err != nil {
		return "", err
	}
	for len(reply) > 0 {
		num, typ, n := protowire.ConsumeTag(reply)
		if n < 0 {
			return "", protowire.ParseError(n)
		}
		reply = reply[n:]
		if num == 1 && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(reply)
			return string(v), nil
		}
		m := protowire.ConsumeFieldValue(num, typ, reply)
		if m < 0 {
			return "", protowire.ParseError(m)
		}
		reply = reply[m:]
	}
	return "", errors.New("WhoAmIResponse without a username")
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func fingerprint(token string) string { return "sha256:" + hashToken(token)[:16] }

// rows is pachd's token table by hash.
func (p *pachd) rows() map[string]standin.Token {
	p.t.Helper()
	ctx, cancel := p.ctx()
	defer cancel()
	list, err := p.Tokens(ctx)
	if err != nil {
		p.t.Fatalf("GET /tokens: %v", err)
	}
	out := map[string]standin.Token{}
	for _, tk := range list {
		out[tk.Hash] = tk
	}
	return out
}

// expectLive fails unless pachd accepts token as subject.
func (p *pachd) expectLive(what, token, subject string) {
	p.t.Helper()
	got, err := p.whoAmI(token)
	if err != nil {
		p.t.Fatalf("%s: pachd refuses the token: %v", what, err)
	}
	if got != subject {
		p.t.Fatalf("%s: pachd says the token is %q's, want %q", what, got, subject)
	}
}

// waitRevoked waits until pachd no longer holds token, and fails if it merely expired there: on
// 2.x an expired row stays in the table, on 1.x the row must go before its expiry.
func (p *pachd) waitRevoked(what, token string, timeout time.Duration) {
	p.t.Helper()
	hash := hashToken(token)
	var lastExpiry int64
	waitFor(p.t, what+": token revoked at pachd", timeout, func() (bool, string) {
		row, held := p.rows()[hash]
		if held {
			if row.Expired {
				p.t.Fatalf("%s: the token expired at pachd instead of being revoked", what)
			}
			if row.ExpiresAtMs != nil {
				lastExpiry = *row.ExpiresAtMs
			}
			return false, fmt.Sprintf("pachd still holds it (%s, ttl %ds)", row.Subject, row.TTLSeconds)
		}
		if lastExpiry != 0 {
			ctx, cancel := p.ctx()
			defer cancel()
			now, err := p.Now(ctx)
			if err != nil {
				p.t.Fatalf("GET /clock: %v", err)
			}
			if now.NowMs >= lastExpiry {
				p.t.Fatalf("%s: the token left pachd only at its expiry; nothing shows it was revoked", what)
			}
		}
		return true, ""
	})
}

// expectGone fails if pachd still holds token.
func (p *pachd) expectGone(what, token string) {
	p.t.Helper()
	if row, held := p.rows()[hashToken(token)]; held {
		p.t.Fatalf("%s: pachd still holds the token (%s, expired %v)", what, row.Subject, row.Expired)
	}
}

// expectOnlyAdmin fails unless the only token pachd holds, live or expired, is the admin token
// with this fingerprint: every token the engine issued is revoked.
func (p *pachd) expectOnlyAdmin(what, adminFingerprint string) {
	p.t.Helper()
	var others []string
	admins := 0
	for hash, row := range p.rows() {
		if "sha256:"+hash[:16] == adminFingerprint && !row.Expired {
			admins++
			continue
		}
		others = append(others, fmt.Sprintf("%s… %s (expired %v)", hash[:12], row.Subject, row.Expired))
	}
	sort.Strings(others)
	if len(others) > 0 {
		p.t.Errorf("%s: pachd holds tokens besides the admin token: %v", what, others)
	}
	if admins != 1 {
		p.t.Errorf("%s: pachd holds %d live admin tokens with fingerprint %s, want 1", what, admins, adminFingerprint)
	}
}

// ---- raw HTTP

// httpDo sends one request to the server and returns the status and body.
func (s *server) httpDo(token, method, path string, body io.Reader) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.addr+path, body)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// readmeText is README.md; the tests run its commands and fail when they are no longer there.
var readmeText = func() string {
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		return ""
	}
	return string(b)
}()

// readme returns snippet after checking README.md holds it verbatim, so the commands the tests
// run are the commands operators read.
func readme(t *testing.T, snippet string) string {
	t.Helper()
	if !strings.Contains(readmeText, snippet) {
		t.Fatalf("README.md no longer holds this text; update the acceptance test with it:\n%s", snippet)
	}
	return snippet
}

// replaceAll applies old, new pairs.
func replaceAll(text string, pairs ...string) string {
	return strings.NewReplacer(pairs...).Replace(text)
}

var versionVariable = regexp.MustCompile(`var version\s*=\s*"([^"]*)";`)

const sec = time.Second
