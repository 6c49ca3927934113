package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/helper/pluginutil"
	"github.com/hashicorp/vault/sdk/logical"
	sdkplugin "github.com/hashicorp/vault/sdk/plugin"
)

// ProbeResult is what the registration-time probe learned.
type ProbeResult struct {
	Version       string
	LaunchErr     error // process start / handshake / connection
	DispenseErr   error
	SetupErr      error // Vault ignores it (reports no version) but tests should not
	Multiplexed   bool
	PID           int
	SocketPath    string
	KillDuration  time.Duration
	TotalDuration time.Duration
}

// Err is the first error of the probe.
func (p *ProbeResult) Err() error {
	switch {
	case p.LaunchErr != nil:
		return fmt.Errorf("launch: %w", p.LaunchErr)
	case p.DispenseErr != nil:
		return fmt.Errorf("dispense: %w", p.DispenseErr)
	case p.SetupErr != nil:
		return fmt.Errorf("setup: %w", p.SetupErr)
	}
	return nil
}

// RegistrationProbe does what `vault plugin register` does with a plugin to
// learn its version: launch (v5, AutoMTLS), Dispense, Setup with an empty
// BackendConfig (no config, no backend UUID, no storage and no system view:
// the plugin's calls to them fail), PluginVersion, then close the client
// without Cleanup (go-plugin Shutdown, SIGKILL after 2 s).
func (c *Catalog) RegistrationProbe(ctx context.Context, name, pluginPath string) *ProbeResult {
	res := &ProbeResult{}
	start := time.Now()
	defer func() { res.TotalDuration = time.Since(start) }()
	if err := c.EnsureRegistered(name, pluginPath, ""); err != nil {
		res.LaunchErr = err
		return res
	}
	runner, err := c.LookupPluginVersion(ctx, name, consts.PluginTypeSecrets, "")
	if err != nil {
		res.LaunchErr = err
		return res
	}
	config := pluginutil.PluginClientConfig{
		Name:            runner.Name,
		PluginSets:      sdkplugin.PluginSet,
		HandshakeConfig: sdkplugin.HandshakeConfig,
		Logger:          c.logger.Named("plugin-catalog"),
		IsMetadataMode:  false,
		AutoMTLS:        true,
		Wrapper:         c,
	}
	c.mu.Lock()
	pc, err := c.newPluginClient(ctx, runner, config)
	c.mu.Unlock()
	if err != nil {
		res.LaunchErr = err
		return res
	}
	res.Multiplexed = pc.Multiplexed
	res.PID = pc.PID
	if pc.Network == "unix" {
		res.SocketPath = pc.Address
	}
	defer func() {
		if err := c.cleanup(pc); err != nil {
			c.logger.Error("error closing plugin client", "error", err)
		}
		res.KillDuration = pc.KillDuration
	}()
	backend, err := sdkplugin.Dispense(pc.ClientProtocol, pc)
	if err != nil {
		res.DispenseErr = err
		return res
	}
	if err := backend.Setup(ctx, &logical.BackendConfig{}); err != nil {
		res.SetupErr = err
		return res
	}
	if v, ok := backend.(logical.PluginVersioner); ok {
		res.Version = v.PluginVersion().Version
	}
	return res
}
