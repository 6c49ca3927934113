package acceptance

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The README's commands, verbatim; readme() fails the test when README.md changes them.
const (
	readmeInstall = `cp build/pachyderm /etc/vault/plugins/pachyderm
vault plugin register -sha256=$(sha256sum /etc/vault/plugins/pachyderm | cut -d' ' -f1) \
    -version=v0.1.0 secret pachyderm
vault secrets enable -path=pachyderm pachyderm`

	readmeConfigure = `vault write pachyderm/config \
    pachd_address=grpcs://pachd.example.com:30650 \
    pachd_tls_ca=@/etc/ssl/pachd-ca.pem \
    admin_token=@admin-token.txt \
    ttl=1h max_ttl=24h`

	readmeLogin        = `vault write pachyderm/login username=user:alice@example.com ttl=30m`
	readmeLoginSubject = `vault write -f pachyderm/login/robot:ci`
	readmeRenew        = `vault lease renew pachyderm/login/HkB4HjvA1NbEXLgGk6CeviW2`
	readmeRevoke       = `vault lease revoke pachyderm/login/HkB4HjvA1NbEXLgGk6CeviW2`
	readmeRevokeValue  = `vault write pachyderm/revoke user_token=12d7b03ba6b51d8c018ca76c7dc4840d`
	readmeLeaseID      = `pachyderm/login/HkB4HjvA1NbEXLgGk6CeviW2`
	readmeUserToken    = `12d7b03ba6b51d8c018ca76c7dc4840d`

	readmeRoles = `vault write pachyderm/roles/ci subject=robot:ci ttl=15m max_ttl=2h
vault read pachyderm/creds/ci`

	readmeRotate = `vault write -f pachyderm/config/rotate-root`
	readmeReload = `vault plugin reload -plugin=pachyderm`

	readmeUpgrade = `cp build/pachyderm /etc/vault/plugins/pachyderm-v0.2.0
vault plugin register -sha256=<sha256> -command=pachyderm-v0.2.0 -version=v0.2.0 secret pachyderm
vault secrets tune -plugin-version=v0.2.0 pachyderm
vault plugin reload -plugin=pachyderm`
)

// nextVersion is the version after v (minor + 1): what the upgrade moves to.
func nextVersion(t *testing.T, v string) string {
	t.Helper()
	core := strings.SplitN(strings.SplitN(strings.TrimPrefix(v, "v"), "-", 2)[0], "+", 2)[0]
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		t.Fatalf("package.json's version %q is not major.minor.patch", v)
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		t.Fatalf("package.json's version %q is not major.minor.patch", v)
	}
	return fmt.Sprintf("v%d.%d.0", major, minor+1)
}

// upgradeExecutable writes the plugin as it would be released under version: the plugin built
// as a Node script (build/node/pachyderm, the same sources as build/pachyderm) with the version
// it reports changed. The single executable's bundle cannot be changed this way (V8's code cache
// holds the compiled version string), and Vault refuses to register a file under a version other
// than the one it reports.
func upgradeExecutable(t *testing.T, current, version string) string {
	t.Helper()
	src := mustExist(t, filepath.Join(buildDir(), "node", "pachyderm"), "the plugin as a Node script")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	found := versionVariable.FindAllSubmatch(b, -1)
	if len(found) != 1 || "v"+string(found[0][1]) != current {
		t.Fatalf("%s should hold package.json's version once as `var version = \"%s\"`; found %q", src, strings.TrimPrefix(current, "v"), found)
	}
	out := versionVariable.ReplaceAll(b, []byte(fmt.Sprintf(`var version=%q;`, strings.TrimPrefix(version, "v"))))
	path := filepath.Join(t.TempDir(), "pachyderm-"+version)
	if err := os.WriteFile(path, out, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestAcceptanceOperatorPath runs the operator's commands from README.md as written against a
// pachd behind TLS with a private CA: install and register by SHA-256, enable, configure, read
// the configuration, issue (login, login/<subject>, a role's creds), renew, rotate-root, plugin
// reload, upgrade to a newly registered version, and the leases issued before all that renew
// and revoke under the new version.
func TestAcceptanceOperatorPath(t *testing.T) {
	requireAcceptance(t)
	forEachGeneration(t, func(t *testing.T, g generation) {
		p := startPachd(t, g, true)
		s := startServer(t)
		version := "v" + packageVersion(t)
		next := nextVersion(t, version)
		var outputs []string
		sh := func(text string) string {
			t.Helper()
			out := s.sh(text)
			outputs = append(outputs, out)
			return out
		}

		// Install and register.
		sh(replaceAll(readme(t, readmeInstall),
			"cp build/pachyderm", "cp "+pluginExecutable(t),
			"/etc/vault/plugins", s.pluginDir,
			"-version=v0.1.0", "-version="+version))
		if err := os.WriteFile(filepath.Join(s.dir, "admin-token.txt"), []byte(p.RootToken+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		sh(replaceAll(readme(t, readmeConfigure),
			"grpcs://pachd.example.com:30650", p.PachdAddress,
			"/etc/ssl/pachd-ca.pem", p.caFile))
		if !strings.HasPrefix(p.PachdAddress, "grpcs://") {
			t.Fatalf("the stand-in serves %s, want grpcs://", p.PachdAddress)
		}

		config := table(sh("vault read pachyderm/config"))
		want := map[string]string{
			"admin_token_fingerprint": fingerprint(p.RootToken),
			"admin_subject":           "pach:root",
			"pachd_address":           p.PachdAddress,
			"pachd_generation":        strconv.Itoa(g.number),
			"issuance_mode":           "restore",
			"ttl":                     "1h",
			"max_ttl":                 "24h",
			"effective_ttl":           "1h",
			"effective_max_ttl":       "24h",
		}
		for key, value := range want {
			if config[key] != value {
				t.Errorf("read pachyderm/config: %s = %q, want %q", key, config[key], value)
			}
		}
		pid := s.pluginPID()

		// The original workflow, and roles.
		login := leaseFromTable(t, sh(replaceAll(readme(t, readmeLogin), "user:alice@example.com", g.user("alice@example.com"))))
		p.expectLive("login", login.Token, g.user("alice@example.com"))
		robot := leaseFromTable(t, sh(readme(t, readmeLoginSubject)))
		p.expectLive("login/robot:ci", robot.Token, "robot:ci")
		ci := leaseFromTable(t, sh(readme(t, readmeRoles)))
		p.expectLive("creds/ci", ci.Token, "robot:ci")
		renewed := table(sh(replaceAll(readme(t, readmeRenew), readmeLeaseID, login.ID)))
		if renewed["lease_id"] != login.ID || renewed["lease_duration"] != "30m" {
			t.Errorf("lease renew: %v, want lease %s for 30m", renewed, login.ID)
		}

		// rotate-root: a new admin token for the same subject, the old one revoked at pachd.
		sh(readme(t, readmeRotate))
		admin := s.adminFingerprint()
		if admin == fingerprint(p.RootToken) {
			t.Fatalf("rotate-root kept the admin token")
		}
		p.expectGone("the admin token rotate-root replaced", p.RootToken)
		if _, err := p.whoAmI(p.RootToken); err == nil {
			t.Errorf("pachd still accepts the admin token rotate-root replaced")
		}
		newAdmin := 0
		for hash, row := range p.rows() {
			if "sha256:"+hash[:16] == admin && row.Subject == "pach:root" && !row.Expired {
				newAdmin++
			}
		}
		if newAdmin != 1 {
			t.Errorf("pachd holds %d live pach:root tokens with the new fingerprint %s, want 1", newAdmin, admin)
		}

		// plugin reload: a new process, the same leases.
		sh(readme(t, readmeReload))
		waitFor(t, "a new plugin process after plugin reload", 15*sec, func() (bool, string) {
			pids := s.pluginPIDs()
			return len(pids) == 1 && pids[0] != pid, fmt.Sprintf("plugin processes %v, before %d", pids, pid)
		})
		pid = s.pluginPID()
		sh("vault lease renew " + ci.ID)
		p.expectLive("creds/ci after reload", ci.Token, "robot:ci")

		// Upgrading, as the README says, to a file that reports the next version.
		upgraded := upgradeExecutable(t, version, next)
		sh(replaceAll(readme(t, readmeUpgrade),
			"cp build/pachyderm", "cp "+upgraded,
			"/etc/vault/plugins", s.pluginDir,
			"<sha256>", fileSHA256(t, upgraded),
			"v0.2.0", next))
		waitFor(t, "the upgraded plugin process", 15*sec, func() (bool, string) {
			pids := s.pluginPIDs()
			return len(pids) == 1 && pids[0] != pid && strings.Contains(processCommand(pids[0]), "pachyderm-"+next),
				fmt.Sprintf("plugin processes %v, before %d", pids, pid)
		})
		if got := table(sh("vault read pachyderm/version/client-only"))["client-version"]; got != next {
			t.Errorf("version/client-only after the upgrade: client-version %q, want %q", got, next)
		}
		var mounts map[string]struct {
			PluginVersion        string `json:"plugin_version"`
			RunningPluginVersion string `json:"running_plugin_version"`
			RunningSha256        string `json:"running_sha256"`
		}
		s.cliJSON(rootToken, &mounts, "secrets", "list", "-detailed", "-format=json")
		if m := mounts["pachyderm/"]; m.PluginVersion != next || m.RunningPluginVersion != next || m.RunningSha256 != fileSHA256(t, upgraded) {
			t.Errorf("secrets list after the upgrade: %+v, want version %s running %s", m, next, fileSHA256(t, upgraded))
		}

		// Leases issued before the rotation, the reload and the upgrade renew and revoke.
		for _, l := range []lease{login, robot, ci} {
			if got := table(sh("vault lease renew " + l.ID)); got["lease_id"] != l.ID {
				t.Errorf("lease renew %s after the upgrade: %v", l.ID, got)
			}
			p.expectLive("after the upgrade", l.Token, l.Subject)
		}
		sh(replaceAll(readme(t, readmeRevokeValue), readmeUserToken, robot.Token))
		p.expectGone("write pachyderm/revoke", robot.Token)
		// The CLI queues revocations (no -sync): they land a moment later.
		sh("vault lease revoke " + robot.ID) // its token is gone already: that counts as revoked
		waitFor(t, "lease revoke of a lease whose token was revoked by value", 15*sec, func() (bool, string) {
			return !s.leaseExists(robot.ID), "the server still holds " + robot.ID
		})
		sh(replaceAll(readme(t, readmeRevoke), readmeLeaseID, login.ID))
		p.waitRevoked("lease revoke of the login", login.Token, 15*sec)
		fresh := leaseFromTable(t, sh("vault read pachyderm/creds/ci"))
		p.expectLive("creds/ci from the upgraded plugin", fresh.Token, "robot:ci")
		sh("vault lease revoke -prefix pachyderm/creds/ci")
		p.waitRevoked("lease revoke -prefix", ci.Token, 15*sec)
		p.waitRevoked("lease revoke -prefix", fresh.Token, 15*sec)
		p.expectOnlyAdmin("after every lease was revoked", admin)

		for _, out := range append(outputs, s.log()) {
			if strings.Contains(out, p.RootToken) {
				t.Errorf("the admin token appears in a command's output or the server log:\n%s", tail(out, 2000))
			}
		}
	})
}
