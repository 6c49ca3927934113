// Command pachyderm-token keeps a pachctl config file holding a live Pachyderm token from Vault
// or OpenBao.
//
// It logs in with AppRole, reads pachyderm/creds/<role>, writes a pachctl config file (mode
// 0600) and lets Vault's LifetimeWatcher renew the lease. When the watcher gives up (the lease
// is near its max_ttl, or renewing failed), it fetches a new token, rewrites the file and
// revokes the old lease. On SIGINT/SIGTERM, or after -run-for, it removes the file and revokes
// the lease, so the token dies at pachd too.
//
//	export VAULT_ADDR=https://vault.example.com:8200 VAULT_ROLE_ID=... VAULT_SECRET_ID=...
//	pachyderm-token --role ci --config ./pachyderm-config.json &
//	PACH_CONFIG=./pachyderm-config.json pachctl list repo
//
// Every event is one JSON line on stdout (never the token itself).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	vault "github.com/hashicorp/vault/api"
)

var (
	mount        = flag.String("mount", "pachyderm", "where the secrets engine is mounted")
	role         = flag.String("role", "ci", "the engine's role: reads <mount>/creds/<role>")
	approleMount = flag.String("approle-mount", "approle", "where AppRole is mounted")
	roleIDFile   = flag.String("role-id-file", "", "file holding the AppRole role_id (else $VAULT_ROLE_ID)")
	secretIDFile = flag.String("secret-id-file", "", "file holding the AppRole secret_id (else $VAULT_SECRET_ID)")
	configPath   = flag.String("config", "pachyderm-config.json", "pachctl config file to write")
	contextName  = flag.String("context", "vault", "pachctl context name in that file")
	runFor       = flag.Float64("run-for", 0, "stop after this many seconds (0: until signalled)")
)

// event prints one JSON line: what happened, when, and to which lease.
func event(name string, fields map[string]any) {
	fields["event"] = name
	fields["time"] = time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	line, _ := json.Marshal(fields)
	fmt.Println(string(line))
}

// credential reads an AppRole credential from a file, else from the environment.
func credential(envName, file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		return strings.TrimSpace(string(b)), err
	}
	if v := os.Getenv(envName); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("set %s or pass the matching -*-file flag", envName)
}

// login returns a client holding a fresh AppRole token. Each Pachyderm token is read under its
// own Vault token, which therefore needs to outlive one lease only (token_ttl >= max_ttl).
func login(ctx context.Context) (*vault.Client, error) {
	client, err := vault.NewClient(vault.DefaultConfig()) // VAULT_ADDR, VAULT_CACERT, ...
	if err != nil {
		return nil, err
	}
	// Read at each login, so a secret_id file that something else rotates is picked up.
	roleID, err1 := credential("VAULT_ROLE_ID", *roleIDFile)
	secretID, err2 := credential("VAULT_SECRET_ID", *secretIDFile)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	auth, err := client.Logical().WriteWithContext(ctx, "auth/"+*approleMount+"/login",
		map[string]any{"role_id": roleID, "secret_id": secretID})
	if err != nil || auth == nil || auth.Auth == nil {
		return nil, fmt.Errorf("AppRole login: %v", err)
	}
	client.SetToken(auth.Auth.ClientToken)
	return client, nil
}

// writeConfig writes pachctl's config file atomically: a 0600 temporary file renamed over it.
func writeConfig(data map[string]any) error {
	config := map[string]any{"v2": map[string]any{
		"active_context": *contextName,
		"contexts": map[string]any{*contextName: map[string]any{
			"pachd_address": data["pachd_address"], "session_token": data["user_token"],
		}},
	}}
	b, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(*configPath), ".pachctl-config-") // created 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	_, err = tmp.Write(b)
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), *configPath)
}

// held is one Pachyderm token: its lease and the client (Vault token) that owns it.
type held struct {
	client *vault.Client
	secret *vault.Secret
}

// fetch logs in, reads a new token and writes it to the config file.
func fetch(ctx context.Context) (*held, error) {
	client, err := login(ctx)
	if err != nil {
		return nil, err
	}
	secret, err := client.Logical().ReadWithContext(ctx, *mount+"/creds/"+*role)
	if err != nil {
		return nil, err
	}
	if secret == nil || secret.Data["user_token"] == nil {
		return nil, fmt.Errorf("%s/creds/%s returned no token", *mount, *role)
	}
	h := &held{client, secret}
	if err := writeConfig(secret.Data); err != nil {
		h.revoke("config write failed")
		return nil, err
	}
	return h, nil
}

func (h *held) describe() map[string]any {
	return map[string]any{
		"lease_id": h.secret.LeaseID, "lease_duration": h.secret.LeaseDuration,
		"token_expires_at": h.secret.Data["token_expires_at"],
	}
}

// revoke ends the lease (the engine revokes the token at pachd), then the login token.
func (h *held) revoke(reason string) {
	// A fresh context: this also runs after the main one is cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The lease id goes in the path (Sys().Revoke sends it in the body), so the policy can
	// confine this to the role's leases.
	if _, err := h.client.Logical().WriteWithContext(ctx, "sys/leases/revoke/"+h.secret.LeaseID, nil); err != nil {
		// The lease then ends at its TTL, and its token with it.
		event("revoke_failed", map[string]any{"lease_id": h.secret.LeaseID, "error": err.Error()})
		return
	}
	event("revoked", map[string]any{"lease_id": h.secret.LeaseID, "reason": reason})
	_ = h.client.Auth().Token().RevokeSelfWithContext(ctx, "")
}

// watch lets Vault's LifetimeWatcher renew the lease, asking for its original duration each
// time. It returns true when the watcher gives up (renewing no longer extends the lease: it is
// near max_ttl; or renewing failed) or the token nears its pachd expiry, false when ctx ends.
func watch(ctx context.Context, h *held) (bool, error) {
	watcher, err := h.client.NewLifetimeWatcher(&vault.LifetimeWatcherInput{
		Secret: h.secret, Increment: h.secret.LeaseDuration,
	})
	if err != nil {
		return false, err
	}
	go watcher.Start()
	defer watcher.Stop()
	// The watcher goes by the lease, and leaves only 10-20% of a TTL for the hand-over. A pachd
	// 2.x token expires at max_ttl (token_expires_at), which a last renewal can overshoot by a
	// fraction of a second: also leave a third of a TTL before that.
	var expiring <-chan time.Time
	if at, err := time.Parse(time.RFC3339, fmt.Sprint(h.secret.Data["token_expires_at"])); err == nil {
		timer := time.NewTimer(time.Until(at) - time.Duration(h.secret.LeaseDuration)*time.Second/3)
		defer timer.Stop()
		expiring = timer.C
	}
	for {
		select {
		case <-ctx.Done():
			return false, nil
		case <-expiring:
			return true, nil
		case renewal := <-watcher.RenewCh():
			event("renewed", map[string]any{
				"lease_id": renewal.Secret.LeaseID, "lease_duration": renewal.Secret.LeaseDuration,
			})
		case err := <-watcher.DoneCh():
			if err != nil {
				event("renew_failed", map[string]any{"lease_id": h.secret.LeaseID, "error": err.Error()})
			}
			return true, nil
		}
	}
}

func run(ctx context.Context) error {
	current, err := fetch(ctx)
	if err != nil {
		return err
	}
	event("issued", current.describe())
	defer func() {
		_ = os.Remove(*configPath) // first, so nobody picks up a token about to die
		current.revoke("exit")
	}()
	for {
		replace, err := watch(ctx, current)
		if err != nil || !replace {
			return err
		}
		// Switch to a new token while the old one still has a little time left.
		next, err := fetch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped meanwhile
			}
			return err // the deferred revoke still ends the old lease
		}
		old := current
		current = next
		fields := current.describe()
		fields["old_lease_id"] = old.secret.LeaseID
		event("replaced", fields)
		old.revoke("replaced")
	}
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("pachyderm-token: ")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *runFor > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*runFor*float64(time.Second)))
		defer cancel()
	}
	if err := run(ctx); err != nil {
		log.Fatal(err)
	}
}
