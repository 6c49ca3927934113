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
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"pachyderm-vault-plugin/test/conformance/harness"
	"pachyderm-vault-plugin/test/conformance/standin"
)

const exRootToken = "root"

// exServer is a dev server on 127.0.0.1 with the plugin registered as "pachyderm".
type exServer struct {
	Bin  string
	Addr string
	log  *syncBuffer
	http *http.Client
}

// exStartServer starts a dev server whose plugin directory holds only the plugin, and
// registers it; t.Cleanup stops the server (and so the plugin).
func exStartServer(t *testing.T) *exServer {
	t.Helper()
	bin := serverBinary(t)
	plugin := pluginExecutable(t)
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
	s := &exServer{Bin: bin, log: &syncBuffer{}, http: &http.Client{Timeout: 30 * time.Second}}
	for attempt := 1; ; attempt++ { // the free port may be taken before the server binds it
		port := freePort(t)
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
	sum, err := harness.FileSHA256(installed)
	if err != nil {
		t.Fatal(err)
	}
	s.Must(t, "PUT", "sys/plugins/catalog/secret/pachyderm", exRootToken,
		map[string]any{"sha256": hex.EncodeToString(sum), "command": "pachyderm"})
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
		Script:     standinScript(t),
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
