package harness

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/errwrap"
	multierror "github.com/hashicorp/go-multierror"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/helper/errutil"
	"github.com/hashicorp/vault/sdk/logical"
	sdkplugin "github.com/hashicorp/vault/sdk/plugin"
)

// Default mount TTLs (Vault's defaults: 32 days and 1 year).
const (
	DefaultLeaseTTL = 768 * time.Hour
	MaxLeaseTTL     = 8760 * time.Hour
)

// NewSystemView returns the static system view served to the plugin over the
// broker connection for a mount.
func NewSystemView() *logical.StaticSystemView {
	return &logical.StaticSystemView{
		DefaultLeaseTTLVal: DefaultLeaseTTL,
		MaxLeaseTTLVal:     MaxLeaseTTL,
		VersionString:      DefaultVaultVersion,
		PluginEnvironment: &logical.PluginEnvironment{
			VaultVersion: DefaultVaultVersion,
		},
	}
}

// SetupGuardStorage wraps a storage and refuses writes while "read only",
// which is how Vault's barrier view behaves while a mount's Setup runs.
type SetupGuardStorage struct {
	logical.Storage
	readOnly atomic.Bool
	// Writes counts successful Put/Delete calls; SetupWrites counts refused ones.
	Writes      atomic.Int64
	SetupWrites atomic.Int64
}

// SetReadOnly switches the setup guard.
func (s *SetupGuardStorage) SetReadOnly(ro bool) { s.readOnly.Store(ro) }

// Put implements logical.Storage.
func (s *SetupGuardStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	if s.readOnly.Load() {
		s.SetupWrites.Add(1)
		return logical.ErrSetupReadOnly
	}
	err := s.Storage.Put(ctx, e)
	if err == nil {
		s.Writes.Add(1)
	}
	return err
}

// Delete implements logical.Storage.
func (s *SetupGuardStorage) Delete(ctx context.Context, key string) error {
	if s.readOnly.Load() {
		s.SetupWrites.Add(1)
		return logical.ErrSetupReadOnly
	}
	err := s.Storage.Delete(ctx, key)
	if err == nil {
		s.Writes.Add(1)
	}
	return err
}

// MountOptions tune Mount; zero values give Vault-like defaults.
type MountOptions struct {
	// Name is the catalog name (default: the executable's base name).
	Name string
	// Path is the mount path without trailing slash (default Name).
	Path string
	// Version is the plugin_version to mount ("" = unversioned).
	Version string
	// System is served over the broker (default NewSystemView()).
	System *logical.StaticSystemView
	// Storage backs the mount (default a fresh InmemStorage).
	Storage *logical.InmemStorage
	// SkipInitialize stops after SpecialPaths.
	SkipInitialize bool
}

// MountError tells which step of `vault secrets enable` failed.
type MountError struct {
	Stage string // launch, setup, type, initialize
	Err   error
}

func (e *MountError) Error() string { return fmt.Sprintf("mount %s: %v", e.Stage, e.Err) }
func (e *MountError) Unwrap() error { return e.Err }

// Mount is one enabled secrets engine.
type Mount struct {
	Catalog     *Catalog
	PluginName  string
	Path        string // e.g. "pachyderm-ab12/"
	Accessor    string
	BackendUUID string
	Config      map[string]string

	Backend logical.Backend
	Storage *logical.InmemStorage
	Guard   *SetupGuardStorage
	System  *logical.StaticSystemView
	Client  *PluginClient

	Type           logical.BackendType
	SpecialPaths   *logical.Paths
	RunningVersion string

	// Timings of the enable sequence.
	LaunchDuration time.Duration // NewBackendV5: exec, handshake, connect, MultiplexingSupport
	SetupDuration  time.Duration

	cleaned atomic.Bool
}

// Mount enables pluginPath as a secrets engine with the given mount options
// (as `vault secrets enable -options=k=v`); it registers the executable in
// the catalog first if needed.
func (c *Catalog) Mount(ctx context.Context, pluginPath string, mountConfig map[string]string) (*Mount, error) {
	return c.MountWith(ctx, pluginPath, mountConfig, MountOptions{})
}

// EnsureRegistered registers pluginPath under name unless it is already.
func (c *Catalog) EnsureRegistered(name, pluginPath, version string) error {
	if _, err := c.LookupPluginVersion(context.Background(), name, consts.PluginTypeSecrets, version); err == nil {
		return nil
	}
	_, err := c.Register(name, consts.PluginTypeSecrets, pluginPath, version, nil, nil)
	return err
}

// MountWith is Mount with options. It follows Vault's enable sequence:
// launch through plugin.NewBackendV5 (catalog lookup, NewPluginClient,
// Dispense), Setup with read-only storage, Type (must be logical),
// PluginVersion (the mount's running version), SpecialPaths, storage made
// writable, Initialize. On error the returned Mount (possibly partial) is
// non-nil when a backend exists, and the backend has been cleaned up.
func (c *Catalog) MountWith(ctx context.Context, pluginPath string, mountConfig map[string]string, o MountOptions) (*Mount, error) {
	name := o.Name
	if name == "" {
		name = filepath.Base(pluginPath)
	}
	if err := c.EnsureRegistered(name, pluginPath, o.Version); err != nil {
		return nil, &MountError{Stage: "register", Err: err}
	}
	suffix, _ := RandomBase62(6)
	mpath := o.Path
	if mpath == "" {
		mpath = name + "-" + strings.ToLower(suffix)
	}
	storage := o.Storage
	if storage == nil {
		storage = &logical.InmemStorage{}
	}
	sys := o.System
	if sys == nil {
		sys = NewSystemView()
	}
	guard := &SetupGuardStorage{Storage: storage}
	guard.SetReadOnly(true)

	conf := map[string]string{}
	for k, v := range mountConfig {
		conf[k] = v
	}
	conf["plugin_name"] = name
	conf["plugin_type"] = consts.PluginTypeSecrets.String()
	conf["plugin_version"] = o.Version

	accessor := name + "_" + strings.ToLower(suffix)
	m := &Mount{
		Catalog:     c,
		PluginName:  name,
		Path:        strings.TrimSuffix(mpath, "/") + "/",
		Accessor:    accessor,
		BackendUUID: RandomUUID(),
		Config:      conf,
		Storage:     storage,
		Guard:       guard,
		System:      sys,
	}
	bc := &logical.BackendConfig{
		StorageView: guard,
		Logger:      c.logger.Named("secrets." + name + "." + accessor),
		System:      sys,
		Config:      conf,
		BackendUUID: m.BackendUUID,
	}

	slot := &clientSlot{}
	start := time.Now()
	b, err := sdkplugin.NewBackendV5(context.WithValue(ctx, clientSlotKey{}, slot), name, consts.PluginTypeSecrets, o.Version, c, bc)
	m.LaunchDuration = time.Since(start)
	m.Client = slot.pc
	if err != nil {
		return nil, &MountError{Stage: "launch", Err: err}
	}
	m.Backend = b

	start = time.Now()
	err = b.Setup(ctx, bc)
	m.SetupDuration = time.Since(start)
	if err != nil {
		m.Cleanup(ctx)
		return m, &MountError{Stage: "setup", Err: err}
	}
	m.Type = b.Type()
	if m.Type != logical.TypeLogical {
		m.Cleanup(ctx)
		return m, &MountError{Stage: "type", Err: fmt.Errorf("unknown backend type: %q (got %v)", name, m.Type)}
	}
	if v, ok := b.(logical.PluginVersioner); ok {
		m.RunningVersion = v.PluginVersion().Version
	}
	m.SpecialPaths = b.SpecialPaths()
	guard.SetReadOnly(false)
	if o.SkipInitialize {
		return m, nil
	}
	if err := b.Initialize(ctx, &logical.InitializationRequest{Storage: guard}); err != nil {
		m.Cleanup(ctx)
		return m, &MountError{Stage: "initialize", Err: err}
	}
	return m, nil
}

// Cleanup is what Vault does at unmount/seal after revoking leases: the
// backend's Cleanup RPC, stop of the brokered server, then Close of the
// plugin client (which kills the process unless other multiplexed mounts
// still use it). It is idempotent.
func (m *Mount) Cleanup(ctx context.Context) time.Duration {
	if m == nil || m.Backend == nil || !m.cleaned.CompareAndSwap(false, true) {
		return 0
	}
	start := time.Now()
	m.Backend.Cleanup(ctx)
	return time.Since(start)
}

// Cleaned reports whether Cleanup ran.
func (m *Mount) Cleaned() bool { return m.cleaned.Load() }

// PID of the plugin process serving this mount (0 if unknown).
func (m *Mount) PID() int {
	if m == nil || m.Client == nil {
		return 0
	}
	return m.Client.PID
}

// SocketPath of the plugin's listener ("" if not a unix socket).
func (m *Mount) SocketPath() string {
	if m == nil || m.Client == nil || m.Client.Network != "unix" {
		return ""
	}
	return m.Client.Address
}

// MultiplexID is the id this mount sends as multiplex_id.
func (m *Mount) MultiplexID() string {
	if m == nil || m.Client == nil {
		return ""
	}
	return m.Client.ID
}

// Result is the outcome of one request as Vault's core and HTTP layer would
// see it.
type Result struct {
	Req  *logical.Request
	Resp *logical.Response
	Err  error

	// Existence check outcome (create/update only).
	ExistenceChecked bool
	CheckFound       bool
	Exists           bool
	ExistenceErr     error

	// HTTP status a Vault API client would get, and the error text it would
	// see (nil on success).
	Status    int
	StatusErr error
	Duration  time.Duration
}

// Data returns Resp.Data or nil.
func (r *Result) Data() map[string]interface{} {
	if r == nil || r.Resp == nil {
		return nil
	}
	return r.Resp.Data
}

func (r *Result) String() string {
	return fmt.Sprintf("op=%s path=%q status=%d err=%v resp=%s", r.Req.Operation, r.Req.Path, r.Status, r.Err, DescribeResponse(r.Resp))
}

// DescribeResponse renders a response for failure messages.
func DescribeResponse(resp *logical.Response) string {
	if resp == nil {
		return "<nil>"
	}
	s := fmt.Sprintf("{data:%v", resp.Data)
	if resp.Secret != nil {
		s += fmt.Sprintf(" secret:{ttl:%v max_ttl:%v renewable:%v internal_data:%v}", resp.Secret.TTL, resp.Secret.MaxTTL, resp.Secret.Renewable, resp.Secret.InternalData)
	}
	if len(resp.Warnings) > 0 {
		s += fmt.Sprintf(" warnings:%v", resp.Warnings)
	}
	return s + "}"
}

// NewRequest builds a request the way Vault's router hands it to a mount:
// path relative to the mount, mount metadata, a request id, the storage view.
func (m *Mount) NewRequest(op logical.Operation, path string, data map[string]interface{}) *logical.Request {
	if op == logical.ListOperation && path != "" && !strings.HasSuffix(path, "/") {
		path += "/"
	}
	return &logical.Request{
		ID:                  RandomUUID(),
		Operation:           op,
		Path:                path,
		Data:                data,
		Storage:             m.Guard,
		Connection:          &logical.Connection{RemoteAddr: "127.0.0.1"},
		ClientToken:         "hmac-sha256:0000000000000000000000000000000000000000000000000000000000000000",
		ClientTokenAccessor: "conformance-accessor",
		DisplayName:         "token",
		MountPoint:          m.Path,
		MountType:           m.PluginName,
		MountAccessor:       m.Accessor,
	}
}

// Do sends a request the way Vault's core does: for create and update it
// first runs the existence check and picks create or update from its
// answer, then HandleRequest; the HTTP status is derived like Vault's HTTP
// layer does.
func (m *Mount) Do(ctx context.Context, req *logical.Request) *Result {
	r := &Result{Req: req}
	start := time.Now()
	defer func() { r.Duration = time.Since(start) }()
	if req.Operation == logical.CreateOperation || req.Operation == logical.UpdateOperation {
		r.ExistenceChecked = true
		found, exists, err := m.Backend.HandleExistenceCheck(ctx, req)
		r.CheckFound, r.Exists, r.ExistenceErr = found, exists, err
		switch {
		case err == logical.ErrUnsupportedPath:
			// fail later via the request itself
			found = false
		case err != nil:
			r.Resp, r.Err = existenceCheckFailure(err)
			r.Status, r.StatusErr = HTTPStatus(req, r.Resp, r.Err)
			return r
		}
		switch {
		case !found:
			req.Operation = logical.UpdateOperation
		case exists:
			req.Operation = logical.UpdateOperation
		case req.Operation == logical.CreateOperation:
		default:
			req.Operation = logical.CreateOperation
		}
	}
	r.Resp, r.Err = m.Backend.HandleRequest(ctx, req)
	r.Status, r.StatusErr = HTTPStatus(req, r.Resp, r.Err)
	return r
}

// Read, Write (HTTP PUT/POST: update, possibly turned into create), Delete,
// List and Help are shorthands for Do.
func (m *Mount) Read(ctx context.Context, path string) *Result {
	return m.Do(ctx, m.NewRequest(logical.ReadOperation, path, nil))
}

func (m *Mount) Write(ctx context.Context, path string, data map[string]interface{}) *Result {
	return m.Do(ctx, m.NewRequest(logical.UpdateOperation, path, data))
}

func (m *Mount) Delete(ctx context.Context, path string) *Result {
	return m.Do(ctx, m.NewRequest(logical.DeleteOperation, path, nil))
}

func (m *Mount) List(ctx context.Context, path string) *Result {
	return m.Do(ctx, m.NewRequest(logical.ListOperation, path, nil))
}

// Help on path "" is what sys/internal/specs/openapi sends to every mount.
func (m *Mount) Help(ctx context.Context, path string) *Result {
	return m.Do(ctx, m.NewRequest(logical.HelpOperation, path, map[string]interface{}{
		"requestResponsePrefix": m.PluginName,
	}))
}

// Rollback is the rollback manager's periodic request (path "" after the
// mount prefix is stripped, no data).
func (m *Mount) Rollback(ctx context.Context) *Result {
	req := m.NewRequest(logical.RollbackOperation, "", nil)
	return m.Do(ctx, req)
}

// Renew sends what the expiration manager sends for `vault lease renew`:
// the original path and response data, and the stored secret with the
// requested increment.
func (m *Mount) Renew(ctx context.Context, path string, data map[string]interface{}, secret *logical.Secret, increment time.Duration) *Result {
	s := *secret
	s.Increment = increment
	if s.IssueTime.IsZero() {
		s.IssueTime = time.Now()
	}
	req := m.NewRequest(logical.RenewOperation, path, data)
	req.Secret = &s
	return m.Do(ctx, req)
}

// Revoke sends what the expiration manager sends when a lease is revoked.
func (m *Mount) Revoke(ctx context.Context, path string, data map[string]interface{}, secret *logical.Secret) *Result {
	s := *secret
	if s.IssueTime.IsZero() {
		s.IssueTime = time.Now()
	}
	req := m.NewRequest(logical.RevokeOperation, path, data)
	req.Secret = &s
	return m.Do(ctx, req)
}

// ErrInternalError is the error Vault's core substitutes for unexpected
// errors (its vault.ErrInternalError).
var ErrInternalError = errors.New("internal error")

// existenceCheckFailure turns an existence-check error into what Vault's
// core returns: a user error is passed on (with an error response and
// "invalid request", i.e. 400, unless it is a permission error); any other
// error becomes "internal error" (500).
func existenceCheckFailure(err error) (*logical.Response, error) {
	ctErr := ErrInternalError
	if _, ok := err.(errutil.UserError); ok {
		ctErr = err
	}
	var retErr error
	switch {
	case ctErr == ErrInternalError, errwrap.Contains(ctErr, ErrInternalError.Error()),
		ctErr == logical.ErrPermissionDenied, errwrap.Contains(ctErr, logical.ErrPermissionDenied.Error()):
		retErr = multierror.Append(nil, ctErr)
	default:
		retErr = multierror.Append(nil, logical.ErrInvalidRequest)
	}
	if errwrap.Contains(retErr, ErrInternalError.Error()) {
		return nil, retErr
	}
	return logical.ErrorResponse(ctErr.Error()), retErr
}

// ErrNoBackend is returned by helpers used on a failed mount.
var ErrNoBackend = errors.New("mount has no backend")
