// Package harness launches external Vault secrets-engine plugins the way a
// Vault server does (plugin catalog + go-plugin client, protocol v5, AutoMTLS,
// multiplexing) and drives them through Vault's own client code from the
// Vault SDK (sdk/plugin, sdk/helper/pluginutil, sdk/logical).
package harness

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/helper/pluginutil"
	"github.com/hashicorp/vault/sdk/helper/wrapping"
	"github.com/hashicorp/vault/sdk/logical"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// DefaultVaultVersion is what the catalog reports as the server version
// (pluginutil puts it into the plugin's VAULT_VERSION).
const DefaultVaultVersion = "1.21.0"

// Options configure a Catalog.
type Options struct {
	// LogLevel of the host logger (Vault's log_level). Default: Debug, so
	// that plugin stderr lines that are not hclog JSON (logged by go-plugin at
	// debug) are kept for failure reports.
	LogLevel hclog.Level
	// VaultVersion reported to plugins. Default DefaultVaultVersion.
	VaultVersion string
	// MlockPlugins mirrors Vault's mlock setting for plugins.
	MlockPlugins bool
	// LogMirror, if set, receives a copy of the host log.
	LogMirror io.Writer
	// ClusterID reported by ClusterID().
	ClusterID string
}

// Catalog is a stand-in for Vault's plugin catalog: it keeps registered
// plugins, launches them through pluginutil.PluginRunner.RunConfig, and
// shares one process among mounts of a plugin that supports multiplexing.
// It implements pluginutil.LookRunnerUtil, so it can be handed to the SDK's
// plugin.NewBackendV5 exactly as Vault hands its system view.
type Catalog struct {
	Log    *LogCapture
	logger hclog.Logger

	vaultVersion string
	clusterID    string
	mlock        bool

	mu       sync.Mutex
	runners  map[runnerKey]*pluginutil.PluginRunner
	external map[externalKey]*externalPlugin
}

var _ pluginutil.LookRunnerUtil = (*Catalog)(nil)

type runnerKey struct {
	name    string
	typ     consts.PluginType
	version string
}

// externalKey identifies processes that may be shared: only plugins with
// identical runner configuration are multiplexed onto one process.
type externalKey struct {
	name, version, command, args, env, sha string
	typ                                    consts.PluginType
}

func makeExternalKey(r *pluginutil.PluginRunner) externalKey {
	args, _ := json.Marshal(r.Args)
	env, _ := json.Marshal(r.Env)
	return externalKey{
		name: r.Name, typ: r.Type, version: r.Version, command: r.Command,
		args: string(args), env: string(env), sha: hex.EncodeToString(r.Sha256),
	}
}

type externalPlugin struct {
	conns        map[string]*PluginClient
	multiplexing bool
}

// New returns an empty catalog with a captured host logger.
func New(o Options) *Catalog {
	if o.LogLevel == hclog.NoLevel {
		o.LogLevel = hclog.Debug
	}
	if o.VaultVersion == "" {
		o.VaultVersion = DefaultVaultVersion
	}
	if o.ClusterID == "" {
		o.ClusterID = RandomUUID()
	}
	capture := &LogCapture{Mirror: o.LogMirror}
	return &Catalog{
		Log:          capture,
		logger:       NewHostLogger("core", o.LogLevel, capture),
		vaultVersion: o.VaultVersion,
		clusterID:    o.ClusterID,
		mlock:        o.MlockPlugins,
		runners:      map[runnerKey]*pluginutil.PluginRunner{},
		external:     map[externalKey]*externalPlugin{},
	}
}

// Logger is the host logger (what Vault's server logger would be).
func (c *Catalog) Logger() hclog.Logger { return c.logger }

// Register records a plugin executable like `vault plugin register -sha256=…
// -command=… secret NAME`: the SHA-256 is computed now, and go-plugin checks
// it again before every process start. pluginType is usually
// consts.PluginTypeSecrets; version may be empty.
func (c *Catalog) Register(name string, pluginType consts.PluginType, command string, version string, args []string, env []string) (*pluginutil.PluginRunner, error) {
	abs, err := filepath.Abs(command)
	if err != nil {
		return nil, err
	}
	sum, err := FileSHA256(abs)
	if err != nil {
		return nil, err
	}
	r := &pluginutil.PluginRunner{
		Name:    name,
		Type:    pluginType,
		Version: version,
		Command: abs,
		Args:    args,
		Env:     env,
		Sha256:  sum,
	}
	c.mu.Lock()
	c.runners[runnerKey{name, pluginType, version}] = r
	c.mu.Unlock()
	return r, nil
}

// FileSHA256 hashes a whole file.
func FileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// LookupPlugin implements pluginutil.Looker.
func (c *Catalog) LookupPlugin(ctx context.Context, name string, pluginType consts.PluginType) (*pluginutil.PluginRunner, error) {
	return c.LookupPluginVersion(ctx, name, pluginType, "")
}

// LookupPluginVersion implements pluginutil.Looker.
func (c *Catalog) LookupPluginVersion(_ context.Context, name string, pluginType consts.PluginType, version string) (*pluginutil.PluginRunner, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.runners[runnerKey{name, pluginType, version}]
	if !ok {
		return nil, fmt.Errorf("%s %q (version %q): plugin not found in the catalog", pluginType, name, version)
	}
	cp := *r
	return &cp, nil
}

// ResponseWrapData implements pluginutil.RunnerUtil. Only the legacy
// non-AutoMTLS launch uses it; this harness always uses AutoMTLS.
func (c *Catalog) ResponseWrapData(context.Context, map[string]interface{}, time.Duration, bool) (*wrapping.ResponseWrapInfo, error) {
	return nil, errors.New("response wrapping is not available in the conformance harness")
}

// MlockEnabled implements pluginutil.RunnerUtil.
func (c *Catalog) MlockEnabled() bool { return c.mlock }

// VaultVersion implements pluginutil.RunnerUtil.
func (c *Catalog) VaultVersion(context.Context) (string, error) { return c.vaultVersion, nil }

// ClusterID implements pluginutil.RunnerUtil.
func (c *Catalog) ClusterID(context.Context) (string, error) { return c.clusterID, nil }

// DownloadExtractVerifyPlugin implements pluginutil.RunnerUtil.
func (c *Catalog) DownloadExtractVerifyPlugin(context.Context, *pluginutil.PluginRunner) error {
	return errors.New("plugin download is not supported by the conformance harness")
}

// clientSlotKey lets Mount learn which PluginClient the SDK obtained for it.
type clientSlotKey struct{}

type clientSlot struct{ pc *PluginClient }

// NewPluginClient implements pluginutil.RunnerUtil: it looks the plugin up
// and returns a connection, spawning a process unless a multiplexed one for
// the same runner configuration is already running.
func (c *Catalog) NewPluginClient(ctx context.Context, config pluginutil.PluginClientConfig) (pluginutil.PluginClient, error) {
	if config.Name == "" {
		return nil, errors.New("no name provided for plugin")
	}
	if config.PluginType == consts.PluginTypeUnknown {
		return nil, errors.New("no plugin type provided")
	}
	runner, err := c.LookupPluginVersion(ctx, config.Name, config.PluginType, config.Version)
	if err != nil {
		return nil, fmt.Errorf("failed to lookup plugin: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	pc, err := c.newPluginClient(ctx, runner, config)
	if err != nil {
		return nil, err
	}
	if slot, ok := ctx.Value(clientSlotKey{}).(*clientSlot); ok {
		slot.pc = pc
	}
	return pc, nil
}

// newPluginClient must be called with c.mu held.
func (c *Catalog) newPluginClient(ctx context.Context, runner *pluginutil.PluginRunner, config pluginutil.PluginClientConfig) (*PluginClient, error) {
	key := makeExternalKey(runner)
	ext, ok := c.external[key]
	if !ok {
		ext = &externalPlugin{conns: map[string]*PluginClient{}}
		c.external[key] = ext
	}
	id, err := RandomBase62(10)
	if err != nil {
		return nil, err
	}
	pc := &PluginClient{
		ID:      id,
		catalog: c,
		key:     key,
		logger:  c.logger.Named(runner.Name),
	}

	spawned := false
	if !ext.multiplexing || len(ext.conns) == 0 {
		c.logger.Debug("spawning a new plugin process", "plugin_name", runner.Name, "id", id)
		client, err := runner.RunConfig(ctx,
			pluginutil.PluginSets(config.PluginSets),
			pluginutil.HandshakeConfig(config.HandshakeConfig),
			pluginutil.Logger(config.Logger),
			pluginutil.MetadataMode(config.IsMetadataMode),
			pluginutil.MLock(c.mlock),
			pluginutil.AutoMTLS(config.AutoMTLS),
			pluginutil.Runner(config.Wrapper),
		)
		if err != nil {
			return nil, err
		}
		pc.Client = client
		spawned = true
	} else {
		c.logger.Debug("returning existing plugin client for multiplexed plugin", "id", id)
		for _, other := range ext.conns {
			pc.Client = other.Client
			break
		}
	}
	pc.Spawned = spawned

	start := time.Now()
	rpcClient, err := pc.Client.Client() // starts the process if needed
	if err != nil {
		if spawned {
			pc.Client.Kill()
		}
		return nil, err
	}
	pc.StartDuration = time.Since(start)

	grpcClient, ok := rpcClient.(*goplugin.GRPCClient)
	if !ok {
		if spawned {
			pc.Client.Kill()
		}
		return nil, fmt.Errorf("plugin did not negotiate gRPC (got %T)", rpcClient)
	}
	muxed, err := pluginutil.MultiplexingSupported(ctx, grpcClient.Conn, config.Name)
	if err != nil {
		if spawned {
			pc.Client.Kill()
		}
		return nil, err
	}
	pc.conn = &multiplexConn{ClientConn: grpcClient.Conn, id: id}
	pc.ClientProtocol = rpcClient
	pc.Multiplexed = muxed
	if rc := pc.Client.ReattachConfig(); rc != nil {
		pc.PID = rc.Pid
		if rc.Addr != nil {
			pc.Network = rc.Addr.Network()
			pc.Address = rc.Addr.String()
		}
	}
	ext.conns[id] = pc
	ext.multiplexing = muxed
	return pc, nil
}

// cleanup removes one connection; the process is killed when the plugin is
// not multiplexed, when this was the last connection, or when the process
// has already exited.
func (c *Catalog) cleanup(pc *PluginClient) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ext, ok := c.external[pc.key]
	if !ok {
		return errors.New("plugin client not found")
	}
	if _, ok := ext.conns[pc.ID]; !ok {
		return fmt.Errorf("plugin connection not found for client id: %s", pc.ID)
	}
	delete(ext.conns, pc.ID)
	c.logger.Debug("removed plugin client connection", "id", pc.ID)
	killed := false
	switch {
	case !ext.multiplexing:
		pc.kill()
		killed = true
		if len(ext.conns) == 0 {
			delete(c.external, pc.key)
		}
	case len(ext.conns) == 0 || pc.Client.Exited():
		pc.kill()
		killed = true
		delete(c.external, pc.key)
	}
	if killed {
		c.logger.Debug("killed external plugin process", "pid", pc.PID)
	}
	return nil
}

// reload kills the (possibly shared) process: a reload of any mount of a
// multiplexed plugin restarts the whole process.
func (c *Catalog) reload(pc *PluginClient) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ext, ok := c.external[pc.key]
	if !ok {
		return errors.New("plugin client not found")
	}
	if !ext.multiplexing {
		delete(ext.conns, pc.ID)
		pc.kill()
		if len(ext.conns) == 0 {
			delete(c.external, pc.key)
		}
		return nil
	}
	delete(c.external, pc.key)
	pc.kill()
	return nil
}

// Processes is the number of distinct plugin launches the catalog tracks.
func (c *Catalog) Processes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.external)
}

// KillAll kills every process still tracked (test cleanup).
func (c *Catalog) KillAll() {
	c.mu.Lock()
	var clients []*goplugin.Client
	for k, ext := range c.external {
		seen := map[*goplugin.Client]bool{}
		for _, pc := range ext.conns {
			if !seen[pc.Client] {
				seen[pc.Client] = true
				clients = append(clients, pc.Client)
			}
		}
		delete(c.external, k)
	}
	c.mu.Unlock()
	for _, cl := range clients {
		cl.Kill()
	}
}

// PluginClient is one mount's connection to a plugin process; it implements
// pluginutil.PluginClient. Multiplexed mounts share Client (one process, one
// gRPC connection) and differ in ID, which is sent as multiplex_id metadata
// on every call made through Conn().
type PluginClient struct {
	ID      string
	Client  *goplugin.Client
	Spawned bool // this connection started the process
	// Multiplexed is the plugin's answer to MultiplexingSupport.
	Multiplexed bool
	PID         int
	Network     string
	Address     string // socket path for unix
	// StartDuration covers exec, handshake line and the gRPC connection.
	StartDuration time.Duration

	// KillDuration is how long the go-plugin Kill took (0 if this connection
	// did not kill the process).
	KillDuration time.Duration

	goplugin.ClientProtocol
	conn    *multiplexConn
	catalog *Catalog
	key     externalKey
	logger  hclog.Logger
}

var _ pluginutil.PluginClient = (*PluginClient)(nil)

// Conn implements pluginutil.PluginClient.
func (p *PluginClient) Conn() grpc.ClientConnInterface { return p.conn }

// RawConn is the shared gRPC connection without multiplex metadata.
func (p *PluginClient) RawConn() *grpc.ClientConn { return p.conn.ClientConn }

// Reload implements pluginutil.PluginClient.
func (p *PluginClient) Reload() error {
	p.logger.Debug("reload external plugin process")
	return p.catalog.reload(p)
}

// Close implements plugin.ClientProtocol: it removes this connection from
// the catalog and kills the process when nothing else uses it.
func (p *PluginClient) Close() error {
	p.logger.Debug("cleaning up plugin client connection", "id", p.ID)
	return p.catalog.cleanup(p)
}

func (p *PluginClient) kill() {
	start := time.Now()
	p.Client.Kill()
	p.KillDuration = time.Since(start)
}

// multiplexConn attaches the connection's multiplex_id to every call.
type multiplexConn struct {
	*grpc.ClientConn
	id string
}

var _ grpc.ClientConnInterface = (*multiplexConn)(nil)

func (m *multiplexConn) Invoke(ctx context.Context, method string, args, reply interface{}, opts ...grpc.CallOption) error {
	ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs(pluginutil.MultiplexingCtxKey, m.id))
	return m.ClientConn.Invoke(ctx, method, args, reply, opts...)
}

func (m *multiplexConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs(pluginutil.MultiplexingCtxKey, m.id))
	return m.ClientConn.NewStream(ctx, desc, method, opts...)
}

const base62Chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// RandomBase62 returns n random base62 characters.
func RandomBase62(n int) (string, error) {
	out := make([]byte, n)
	max := big.NewInt(int64(len(base62Chars)))
	for i := range out {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		out[i] = base62Chars[v.Int64()]
	}
	return string(out), nil
}

// RandomUUID returns a random RFC 4122 version-4 UUID string.
func RandomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// compile-time check that logical's static system view is usable as the
// broker-side system view.
var _ logical.SystemView = (*logical.StaticSystemView)(nil)
