package conformance

import (
	"context"
	"regexp"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/plugin/pb"

	"pachyderm-vault-plugin/test/conformance/harness"
)

// Generic checks: they hold for any Vault secrets plugin and run against
// every target, HashiCorp's KV plugin included (which validates the harness).

var semverV = regexp.MustCompile(`^v\d+\.\d+\.\d+([-+].*)?$`)

func checkVersion(t *testing.T, tg target, what, got string) {
	t.Helper()
	if tg.wantVersion != "" {
		if got != tg.wantVersion {
			t.Errorf("%s: plugin reported version %q, want %q (\"v\" + package.json version)", what, got, tg.wantVersion)
		}
		return
	}
	if got == "" && tg.allowNoVersion {
		return
	}
	if !semverV.MatchString(got) {
		t.Errorf("%s: plugin reported version %q, want a \"vX.Y.Z\" version", what, got)
	}
}

// TestEnable: launch + handshake (AutoMTLS, v5), Setup with read-only
// storage, Type == logical, SpecialPaths answered, PluginVersion,
// Initialize.
func TestEnable(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		cat := newCatalog(t, hclog.Debug)
		m := mustMount(t, cat, tg, harness.MountOptions{})
		ctx := testCtx(t)

		if m.Client == nil || m.PID() <= 0 {
			t.Fatalf("no plugin process recorded (client=%v)", m.Client)
		}
		if got := m.Client.Client.NegotiatedVersion(); got != 5 {
			t.Errorf("negotiated plugin protocol version %d, want 5", got)
		}
		if !harness.ProcessAlive(m.PID()) {
			t.Errorf("plugin process %d not alive after enable", m.PID())
		}
		if m.Client.Network != "unix" {
			t.Errorf("plugin listens on %s %s, want a unix socket", m.Client.Network, m.Client.Address)
		} else if !harness.FileExists(m.SocketPath()) {
			t.Errorf("plugin socket %s does not exist", m.SocketPath())
		}
		if m.Type != logical.TypeLogical {
			t.Errorf("Type() = %v, want %v", m.Type, logical.TypeLogical)
		}
		// SpecialPaths through the raw RPC, to tell "answered" from an error
		// (the SDK client maps errors to nil paths).
		reply, err := pb.NewBackendClient(m.Client.Conn()).SpecialPaths(ctx, &pb.Empty{})
		if err != nil {
			t.Errorf("SpecialPaths RPC failed: %v", err)
		} else if reply.Paths == nil {
			t.Errorf("SpecialPaths answered with no paths message")
		}
		if n := m.Guard.SetupWrites.Load(); n != 0 {
			t.Errorf("plugin attempted %d storage writes during Setup (Vault refuses them: %q)", n, logical.ErrSetupReadOnly)
		}
		checkVersion(t, tg, "PluginVersion at enable", m.RunningVersion)
	})
}

// TestRegistrationProbe: what `vault plugin register` does.
func TestRegistrationProbe(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		cat := newCatalog(t, hclog.Debug)
		res := cat.RegistrationProbe(testCtx(t), tg.name, tg.path)
		if err := res.Err(); err != nil {
			t.Fatalf("registration probe failed: %v", err)
		}
		checkVersion(t, tg, "PluginVersion at registration", res.Version)
		if !harness.WaitProcessExit(res.PID, 100*time.Millisecond) {
			t.Errorf("plugin process %d still alive after the probe closed the client", res.PID)
		}
		if res.KillDuration >= 2*time.Second {
			t.Errorf("plugin took %v to exit after Shutdown (go-plugin SIGKILLs after 2s)", res.KillDuration)
		}
		if res.SocketPath != "" && harness.FileExists(res.SocketPath) {
			t.Errorf("socket %s left behind after the probe", res.SocketPath)
		}
	})
}

// TestRootHelpOpenAPI: help on "" must answer with data.openapi, an OpenAPI
// document with a paths object.
func TestRootHelpOpenAPI(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		cat := newCatalog(t, hclog.Debug)
		m := mustMount(t, cat, tg, harness.MountOptions{})
		r := m.Help(testCtx(t), "")
		if !expectOK(t, "help on root path", r) {
			return
		}
		if r.Resp == nil {
			t.Fatalf("help on root path returned no response")
		}
		doc, ok := r.Resp.Data["openapi"].(map[string]interface{})
		if !ok {
			t.Fatalf("help data has no openapi object: data keys %v (openapi is %T)", keys(r.Resp.Data), r.Resp.Data["openapi"])
		}
		if _, ok := doc["openapi"].(string); !ok {
			t.Errorf("openapi document has no \"openapi\" version string: keys %v", keys(doc))
		}
		if _, ok := doc["paths"].(map[string]interface{}); !ok {
			t.Errorf("openapi document has no paths object (paths is %T)", doc["paths"])
		}
	})
}

// TestShutdown: Cleanup then client Kill (unmount): the process must exit
// within 2s of Shutdown (gracefully, without go-plugin's SIGKILL) and
// remove its socket file.
func TestShutdown(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		cat := newCatalog(t, hclog.Debug)
		m := mustMount(t, cat, tg, harness.MountOptions{})
		checkGracefulUnmount(t, cat, m)
	})
}

func checkGracefulUnmount(t *testing.T, cat *harness.Catalog, m *harness.Mount) {
	t.Helper()
	pid, sock := m.PID(), m.SocketPath()
	mark := cat.Log.Len()
	start := time.Now()
	m.Cleanup(context.Background())
	gone := harness.WaitProcessExit(pid, 2*time.Second-time.Since(start))
	elapsed := time.Since(start)
	if !gone {
		t.Errorf("plugin process %d still alive %v after Cleanup+Kill", pid, elapsed)
	} else if elapsed >= 2*time.Second {
		t.Errorf("plugin process %d took %v to go away (limit 2s)", pid, elapsed)
	}
	if m.Client.KillDuration >= 2*time.Second {
		t.Errorf("go-plugin Kill took %v: the plugin did not exit after Shutdown and was SIGKILLed", m.Client.KillDuration)
	}
	for _, e := range harness.ParseLogLines(cat.Log.Since(mark)) {
		if e.Message == "plugin failed to exit gracefully" {
			t.Errorf("host logged %q: the plugin did not exit within 2s of Shutdown", e.Message)
		}
	}
	if sock != "" && harness.FileExists(sock) {
		t.Errorf("plugin socket file %s still exists after the process exited", sock)
	}
}

// TestRollback: the rollback manager's request must not fail (an
// "unsupported operation" error is tolerated by Vault).
func TestRollback(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		cat := newCatalog(t, hclog.Debug)
		m := mustMount(t, cat, tg, harness.MountOptions{})
		r := m.Rollback(testCtx(t))
		if r.Err != nil && r.Err != logical.ErrUnsupportedOperation {
			t.Errorf("rollback failed: %v (Vault logs this every minute)", r.Err)
		}
	})
}

// TestMultiplexing: a second mount of a plugin that supports multiplexing
// reuses the process and connection with its own multiplex_id and its own
// storage; unmounting one leaves the other working; the process ends with
// the last mount.
func TestMultiplexing(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		cat := newCatalog(t, hclog.Debug)
		ctx := testCtx(t)
		m1 := mustMount(t, cat, tg, harness.MountOptions{})
		m2 := mustMount(t, cat, tg, harness.MountOptions{})

		if !m1.Client.Multiplexed {
			if tg.expectMultiplex {
				t.Fatalf("MultiplexingSupport answered false (or unimplemented); the plugin must support multiplexing")
			}
			t.Logf("%s does not support multiplexing: one process per mount", tg.name)
			if m1.PID() == m2.PID() {
				t.Errorf("non-multiplexed plugin: both mounts report the same PID %d", m1.PID())
			}
			return
		}
		if m1.PID() != m2.PID() {
			t.Errorf("multiplexed plugin: mounts served by different processes (%d, %d)", m1.PID(), m2.PID())
		}
		if m2.Client.Spawned {
			t.Errorf("second mount spawned a new process")
		}
		if m1.Client.RawConn() != m2.Client.RawConn() {
			t.Errorf("second mount did not reuse the gRPC connection")
		}
		if m1.MultiplexID() == m2.MultiplexID() || len(m1.MultiplexID()) != 10 {
			t.Errorf("multiplex ids %q and %q: want two different 10-char ids", m1.MultiplexID(), m2.MultiplexID())
		}
		if n := cat.Processes(); n != 1 {
			t.Errorf("catalog tracks %d processes, want 1", n)
		}

		if tg.writePath != "" {
			w := m1.Write(ctx, tg.writePath, tg.writeData)
			expectOK(t, "write on mount 1", w)
			r := m1.Read(ctx, tg.readPath)
			expectStatus(t, "read back on mount 1", r, 200)
			r2 := m2.Read(ctx, tg.readPath)
			if r2.Resp != nil || r2.Status != 404 {
				t.Errorf("mount 2 sees mount 1's data at %s: status %d resp %s (storage not separated per mount)", tg.readPath, r2.Status, harness.DescribeResponse(r2.Resp))
			}
			if e, _ := m2.Storage.Get(ctx, tg.writePath); e != nil {
				t.Errorf("mount 1's write landed in mount 2's storage")
			}
		}

		pid := m1.PID()
		m1.Cleanup(ctx)
		if !harness.ProcessAlive(pid) {
			t.Fatalf("unmounting mount 1 killed the shared process")
		}
		if r := m2.Help(ctx, ""); !expectOK(t, "help on mount 2 after mount 1 was cleaned up", r) {
			return
		}
		if tg.writePath != "" {
			w := m2.Write(ctx, tg.writePath, tg.writeData)
			expectOK(t, "write on mount 2 after mount 1 was cleaned up", w)
			r := m2.Read(ctx, tg.readPath)
			expectStatus(t, "read on mount 2 after mount 1 was cleaned up", r, 200)
		}
		checkGracefulUnmount(t, cat, m2)
	})
}

func keys(m map[string]interface{}) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
