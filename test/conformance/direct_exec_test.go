package conformance

import (
	"context"
	"strings"
	"testing"
	"time"

	sdkplugin "github.com/hashicorp/vault/sdk/plugin"

	"pachyderm-vault-plugin/test/conformance/harness"
)

// Launch refusals: the executable run directly, the way go-plugin would run
// it but with one thing wrong. Each case must exit with status 1, say why on
// stderr and print nothing on stdout (stdout is reserved for the handshake
// line).

const directTimeout = 20 * time.Second

// databaseCookie is what Vault sets when it probes an untyped plugin as a
// database plugin first.
const databaseCookieKey, databaseCookieValue = "VAULT_DATABASE_PLUGIN", "926a0820-aea2-be28-51d6-83cdf00e8edb"

func launchEnv(t *testing.T, cookie bool, versions string, cert bool) []string {
	t.Helper()
	env := harness.BaseEnv()
	if cookie {
		env = append(env, sdkplugin.HandshakeConfig.MagicCookieKey+"="+sdkplugin.HandshakeConfig.MagicCookieValue)
	}
	if versions != "" {
		env = append(env, "PLUGIN_PROTOCOL_VERSIONS="+versions)
	}
	env = append(env, "PLUGIN_MIN_PORT=10000", "PLUGIN_MAX_PORT=25000",
		"VAULT_VERSION="+harness.DefaultVaultVersion,
		"VAULT_PLUGIN_METADATA_MODE=false",
		"VAULT_PLUGIN_AUTOMTLS_ENABLED=true")
	if cert {
		pem, err := harness.HostCertPEM()
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, "PLUGIN_CLIENT_CERT="+pem)
	}
	return env
}

func expectRefusal(t *testing.T, tg target, env []string) {
	t.Helper()
	r := harness.RunDirect(context.Background(), tg.path, env, directTimeout)
	if r.Err != nil {
		t.Fatalf("could not run %s: %v", tg.path, r.Err)
	}
	if r.TimedOut {
		t.Errorf("did not exit within %v (it should refuse to start); stdout=%q stderr=%q", directTimeout, tail(r.Stdout, 2000), tail(r.Stderr, 2000))
		return
	}
	if r.ExitCode != 1 {
		t.Errorf("exit code %d, want 1", r.ExitCode)
	}
	if strings.TrimSpace(r.Stderr) == "" {
		t.Errorf("nothing on stderr; want a human-readable reason")
	}
	if r.Stdout != "" {
		t.Errorf("stdout must stay empty, got %q", tail(r.Stdout, 2000))
	}
	if t.Failed() {
		t.Logf("stderr was: %q", tail(r.Stderr, 4000))
	} else {
		t.Logf("stderr: %s", firstLine(r.Stderr))
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

func TestLaunchWithoutCookie(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		t.Run("missing", func(t *testing.T) {
			expectRefusal(t, tg, launchEnv(t, false, "5", true))
		})
		t.Run("wrong", func(t *testing.T) {
			env := append(launchEnv(t, false, "5", true), sdkplugin.HandshakeConfig.MagicCookieKey+"=not-the-cookie")
			expectRefusal(t, tg, env)
		})
		t.Run("database-plugin-cookie", func(t *testing.T) {
			env := append(launchEnv(t, false, "5", true), databaseCookieKey+"="+databaseCookieValue)
			expectRefusal(t, tg, env)
		})
	})
}

func TestLaunchLegacyProtocolsOnly(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		if !tg.directExec {
			t.Skipf("%s implements protocols 3 and 4", tg.name)
		}
		t.Run("versions-3-4-with-cert", func(t *testing.T) {
			expectRefusal(t, tg, launchEnv(t, true, "3,4", true))
		})
		t.Run("vault-metadata-mode-launch", func(t *testing.T) {
			// what Vault's v4 fallback sends: no AutoMTLS, metadata mode
			env := launchEnv(t, true, "3,4", false)
			env = append(env, "VAULT_PLUGIN_METADATA_MODE=true", "VAULT_PLUGIN_AUTOMTLS_ENABLED=false")
			expectRefusal(t, tg, env)
		})
	})
}

func TestLaunchWithoutClientCert(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		if !tg.directExec {
			t.Skipf("%s falls back to the legacy TLS provider", tg.name)
		}
		expectRefusal(t, tg, launchEnv(t, true, "5", false))
	})
}
