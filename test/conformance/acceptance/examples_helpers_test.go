package acceptance

// Self-contained helpers for examples_test.go: a dev server with the plugin registered, the
// pachd stand-in, and plain HTTP calls to the server. Every name starts with "ex" so that
// nothing collides with the rest of the package.
//
// Environment: PACHYDERM_ACC=1 runs the tests; BAO_BIN or VAULT_BIN names the server binary
// (else bao or vault on PATH); PLUGIN_BUILD_DIR holds pachyderm and pachd-standin.js (default
// ../../../build); PACHYDERM_PLUGIN_PATH and PACHD_STANDIN_PATH override those two files.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"pachyderm-vault-plugin/test/conformance/standin"
)

const exRootToken = "root"

// exRepoRoot is the repository's root, three levels above this package.
func exRepoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func exBuildFile(t *testing.T, override, name string) string {
	t.Helper()
	path := os.Getenv(override)
	if path == "" {
		dir := os.Getenv("PLUGIN_BUILD_DIR")
		if dir == "" {
			dir = filepath.Join(exRepoRoot(t), "build")
		}
		path = filepath.Join(dir, name)
	}
	path, err := filepath.Abs(path)
	if err == nil {
		_, err = os.Stat(path)
	}
	if err != nil {
		t.Fatalf("%s: %v (build it, or set PLUGIN_BUILD_DIR or %s)", name, err, override)
	}
	return path
}

// exServerBin is the bao or vault server binary.
func exServerBin(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"BAO_BIN", "VAULT_BIN"} {
		if v := os.Getenv(name); v != "" {
			return v
		}
	}
	for _, name := range []string{"bao", "vault"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no server binary: set BAO_BIN or VAULT_BIN, or put bao or vault on PATH")
	return ""
}

// exFreePort is a TCP port on 127.0.0.1 that was free a moment ago.
func exFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// exSyncBuffer collects a process's output from several goroutines.
type exSyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *exSyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *exSyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// exServer is a dev server on 127.0.0.1 with the plugin registered as "pachyderm".
type exServer struct {
	Bin  string
	Addr string
	log  *exSyncBuffer
	http *http.Client
}

// exStartServer starts a dev server whose plugin directory holds only the plugin, and
// registers it; t.Cleanup stops the server (and so the plugin).
func exStartServer(t *testing.T) *exServer {
	t.Helper()
	bin := exServerBin(t)
	plugin := exBuildFile(t, "PACHYDERM_PLUGIN_PATH", "pachyderm")
	dir := t.TempDir()
	pluginDir := filepath.Join(dir, "plugins")
	if err := os.Mkdir(pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	installed := filepath.Join(pluginDir, "pachyderm")
	if err := os.Link(plugin, installed); err != nil { // a copy where a link is impossible
		b, err := os.ReadFile(plugin)
		if err == nil {
			err = os.WriteFile(installed, b, 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	config := filepath.Join(dir, "server.hcl")
	if err := os.WriteFile(config, []byte(fmt.Sprintf("plugin_directory = %q\n", pluginDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &exServer{Bin: bin, log: &exSyncBuffer{}, http: &http.Client{Timeout: 30 * time.Second}}
	for attempt := 1; ; attempt++ { // the free port may be taken before the server binds it
		port := exFreePort(t)
		s.Addr = "http://127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command(bin, "server", "-dev", "-dev-root-token-id="+exRootToken,
			"-dev-listen-address=127.0.0.1:"+strconv.Itoa(port), "-dev-no-store-token", "-config="+config)
		cmd.Stdout, cmd.Stderr = s.log, s.log
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			if t.Failed() {
				t.Logf("server log:\n%s", s.log.String())
			}
		})
		if s.waitHealthy(exited) {
			break
		}
		if attempt == 3 {
			t.Fatalf("%s did not come up on %s:\n%s", bin, s.Addr, s.log.String())
		}
	}
	sum, err := exFileSHA256(installed)
	if err != nil {
		t.Fatal(err)
	}
	s.Must(t, "PUT", "sys/plugins/catalog/secret/pachyderm", exRootToken,
		map[string]any{"sha256": sum, "command": "pachyderm"})
	return s
}

func (s *exServer) waitHealthy(exited <-chan struct{}) bool {
	for i := 0; i < 150; i++ {
		select {
		case <-exited:
			return false
		default:
		}
		if resp, err := s.http.Get(s.Addr + "/v1/sys/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

func exFileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Do sends one API request (path without /v1/) as token and decodes the JSON answer.
func (s *exServer) Do(method, path, token string, body any) (map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.Addr+"/v1/"+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Vault-Token", token)
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	out := map[string]any{}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return out, nil
}

// Must is Do that fails the test on an error.
func (s *exServer) Must(t *testing.T, method, path, token string, body any) map[string]any {
	t.Helper()
	out, err := s.Do(method, path, token, body)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// exStartStandin starts a pachd stand-in of the given generation; t.Cleanup stops it.
func exStartStandin(t *testing.T, generation int) *standin.Standin {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := standin.Start(ctx, standin.Options{
		Script:     exBuildFile(t, "PACHD_STANDIN_PATH", "pachd-standin.js"),
		Generation: generation,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.Stop()
		if t.Failed() {
			t.Logf("pachd stand-in (%d.x) log:\n%s", generation, s.Stderr())
		}
	})
	return s
}

// exMount mounts the plugin at mount and points it at the stand-in as its pachd.
func exMount(t *testing.T, s *exServer, mount string, pachd *standin.Standin) {
	t.Helper()
	s.Must(t, "POST", "sys/mounts/"+mount, exRootToken, map[string]any{"type": "pachyderm"})
	s.Must(t, "PUT", mount+"/config", exRootToken,
		map[string]any{"pachd_address": pachd.PachdAddress, "admin_token": pachd.RootToken})
}

// exTokenHash is how pachd (and the stand-in's token list) names a token.
func exTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
