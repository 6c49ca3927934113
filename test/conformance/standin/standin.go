// Package standin starts the pachd stand-in (build/pachd-standin.js, see
// test/pachd/README.md) as a process, steers it through its HTTP control API,
// and calls pachd's auth API over gRPC the way a pachd client does, without
// generated code: requests and responses are encoded with protowire.
package standin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protowire"
)

// Options for Start.
type Options struct {
	// Script is the stand-in bundle (default: $PACHD_STANDIN_PATH, else
	// $PLUGIN_BUILD_DIR/pachd-standin.js, else ../../build/pachd-standin.js).
	Script string
	// Node is the node executable (default "node").
	Node string
	// Generation 1 or 2.
	Generation int
	// PachdVersion to emulate ("" = the stand-in's default for the generation).
	PachdVersion string
	// Extra arguments.
	Args []string
	// StartTimeout bounds the wait for the first stdout line (default 20s).
	StartTimeout time.Duration
}

// DefaultScript is where the stand-in bundle is expected.
func DefaultScript() string {
	if p := os.Getenv("PACHD_STANDIN_PATH"); p != "" {
		return p
	}
	dir := os.Getenv("PLUGIN_BUILD_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "build")
	}
	return filepath.Join(dir, "pachd-standin.js")
}

// Standin is a running stand-in process.
type Standin struct {
	Address      string `json:"address"`
	PachdAddress string `json:"pachd_address"`
	Generation   int    `json:"generation"`
	PachdVersion string `json:"pachd_version"`
	RootToken    string `json:"root_token"`
	Control      string `json:"control"`
	TLS          bool   `json:"tls"`

	cmd    *exec.Cmd
	stderr *syncBuffer
	http   *http.Client

	connMu sync.Mutex
	conn   *grpc.ClientConn

	stopOnce sync.Once
	stopErr  error
	waitDone chan struct{}
	waitErr  error
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Start launches the stand-in and waits for its JSON line.
func Start(ctx context.Context, o Options) (*Standin, error) {
	if o.Script == "" {
		o.Script = DefaultScript()
	}
	if o.Node == "" {
		o.Node = "node"
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 20 * time.Second
	}
	if _, err := os.Stat(o.Script); err != nil {
		return nil, fmt.Errorf("pachd stand-in bundle: %w (build it with make build)", err)
	}
	args := []string{o.Script}
	if o.Generation != 0 {
		args = append(args, "--generation", fmt.Sprint(o.Generation))
	}
	if o.PachdVersion != "" {
		args = append(args, "--pachd-version", o.PachdVersion)
	}
	args = append(args, o.Args...)
	cmd := exec.Command(o.Node, args...)
	cmd.Env = os.Environ()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s := &Standin{
		cmd:      cmd,
		stderr:   &syncBuffer{},
		http:     &http.Client{Timeout: 10 * time.Second},
		waitDone: make(chan struct{}),
	}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s %s: %w", o.Node, strings.Join(args, " "), err)
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.waitDone)
	}()

	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, r)
	}()
	timer := time.NewTimer(o.StartTimeout)
	defer timer.Stop()
	var line string
	select {
	case line = <-lines:
	case <-timer.C:
		_ = s.Stop()
		return nil, fmt.Errorf("pachd stand-in printed nothing within %v; stderr:\n%s", o.StartTimeout, s.Stderr())
	case <-ctx.Done():
		_ = s.Stop()
		return nil, ctx.Err()
	}
	if err := json.Unmarshal([]byte(line), s); err != nil || s.Address == "" || s.Control == "" || s.RootToken == "" {
		_ = s.Stop()
		return nil, fmt.Errorf("pachd stand-in: unexpected first line %q (%v); stderr:\n%s", line, err, s.Stderr())
	}
	return s, nil
}

// Stderr is what the stand-in logged so far.
func (s *Standin) Stderr() string { return s.stderr.String() }

// PID of the stand-in process.
func (s *Standin) PID() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Stop sends SIGTERM and waits (SIGKILL after 5s). Idempotent.
func (s *Standin) Stop() error {
	s.stopOnce.Do(func() {
		s.connMu.Lock()
		if s.conn != nil {
			_ = s.conn.Close()
			s.conn = nil
		}
		s.connMu.Unlock()
		if s.cmd.Process == nil {
			return
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.waitDone:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.waitDone
			s.stopErr = errors.New("pachd stand-in did not stop within 5s of SIGTERM; killed")
		}
	})
	return s.stopErr
}

// ---- control API

// ControlError is a non-2xx answer of the control API.
type ControlError struct {
	Status int
	Body   string
}

func (e *ControlError) Error() string {
	return fmt.Sprintf("control API answered %d: %s", e.Status, e.Body)
}

// Call sends one control request; body may be nil; out may be nil.
func (s *Standin) Call(ctx context.Context, method, path string, body, out interface{}) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.Control+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &ControlError{Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("control %s %s: decoding %q: %w", method, path, b, err)
		}
	}
	return nil
}

// Token is one row of GET /tokens.
type Token struct {
	Hash        string  `json:"hash"`
	Subject     string  `json:"subject"`
	ExpiresAt   *string `json:"expiresAt"`
	ExpiresAtMs *int64  `json:"expiresAtMs"`
	TTLSeconds  int64   `json:"ttlSeconds"`
	Expired     bool    `json:"expired"`
	Source      string  `json:"source,omitempty"`
}

// Tokens lists the token table (1.x drops expired rows while listing).
func (s *Standin) Tokens(ctx context.Context) ([]Token, error) {
	var out struct {
		Tokens []Token `json:"tokens"`
	}
	err := s.Call(ctx, http.MethodGet, "/tokens", nil, &out)
	return out.Tokens, err
}

// CreatedToken is the answer of POST /tokens.
type CreatedToken struct {
	Token     string  `json:"token"`
	Hash      string  `json:"hash"`
	Subject   string  `json:"subject"`
	ExpiresAt *string `json:"expiresAt"`
}

// CreateToken inserts a token directly (roles may be nil).
func (s *Standin) CreateToken(ctx context.Context, subject string, ttlSeconds int64, roles []string) (*CreatedToken, error) {
	body := map[string]interface{}{"subject": subject}
	if ttlSeconds > 0 {
		body["ttlSeconds"] = ttlSeconds
	}
	if roles != nil {
		body["roles"] = roles
	}
	var out CreatedToken
	err := s.Call(ctx, http.MethodPost, "/tokens", body, &out)
	return &out, err
}

// Clock is the answer of the clock routes.
type Clock struct {
	Now        string `json:"now"`
	NowMs      int64  `json:"nowMs"`
	AdvancedMs int64  `json:"advancedMs"`
}

// AdvanceClock moves the stand-in's clock forward.
func (s *Standin) AdvanceClock(ctx context.Context, d time.Duration) (*Clock, error) {
	var out Clock
	err := s.Call(ctx, http.MethodPost, "/clock/advance", map[string]interface{}{"milliseconds": d.Milliseconds()}, &out)
	return &out, err
}

// Now is the stand-in's clock.
func (s *Standin) Now(ctx context.Context) (*Clock, error) {
	var out Clock
	err := s.Call(ctx, http.MethodGet, "/clock", nil, &out)
	return &out, err
}

// Info is GET /info.
type Info struct {
	Address       string `json:"address"`
	PachdAddress  string `json:"pachdAddress"`
	Generation    int    `json:"generation"`
	PachdVersion  string `json:"pachdVersion"`
	RootToken     string `json:"rootToken"`
	AuthActivated bool   `json:"authActivated"`
	Serving       bool   `json:"serving"`
}

// Info asks the stand-in about itself.
func (s *Standin) Info(ctx context.Context) (*Info, error) {
	var out Info
	err := s.Call(ctx, http.MethodGet, "/info", nil, &out)
	return &out, err
}

// Unavailable closes pachd's port (until Available).
func (s *Standin) Unavailable(ctx context.Context) error {
	return s.Call(ctx, http.MethodPost, "/faults/unavailable", map[string]interface{}{}, nil)
}

// Available reopens pachd's port.
func (s *Standin) Available(ctx context.Context) error {
	return s.Call(ctx, http.MethodPost, "/faults/available", map[string]interface{}{}, nil)
}

// SetLatency delays calls of method ("*", an RPC name or a full path); 0 removes.
func (s *Standin) SetLatency(ctx context.Context, method string, d time.Duration) error {
	return s.Call(ctx, http.MethodPost, "/faults/latency", map[string]interface{}{"method": method, "ms": d.Milliseconds()}, nil)
}

// ResetFaults clears every fault (contention included).
func (s *Standin) ResetFaults(ctx context.Context) error {
	return s.Call(ctx, http.MethodPost, "/faults/reset", map[string]interface{}{}, nil)
}

// InjectError makes the next count calls of method ("*", an RPC name or a full
// path) fail with gRPC status code and message; count 0 fails them until
// ClearErrors, and an empty message takes the stand-in's default text.
func (s *Standin) InjectError(ctx context.Context, method string, code int, message string, count int) error {
	body := map[string]interface{}{"code": code}
	if method != "" {
		body["method"] = method
	}
	if message != "" {
		body["message"] = message
	}
	if count > 0 {
		body["count"] = count
	}
	return s.Call(ctx, http.MethodPost, "/faults/error", body, nil)
}

// ClearErrors removes every injected error.
func (s *Standin) ClearErrors(ctx context.Context) error {
	return s.Call(ctx, http.MethodPost, "/faults/error/clear", map[string]interface{}{}, nil)
}

// ContentionOptions configure token-write contention (test/pachd/README.md).
// Zero-valued fields other than Enabled are left out, so the stand-in's
// calibrated defaults apply; to rule stalls out, set StallFrom high rather
// than StallStep to 0.
type ContentionOptions struct {
	Enabled       bool
	BaseMs        float64
	DoublingEvery float64
	StallFrom     float64
	StallStep     float64
	StallMax      float64
	StallMaxMs    float64
	Seed          int64
}

// SetContention turns token-write contention on or off.
func (s *Standin) SetContention(ctx context.Context, o ContentionOptions) error {
	body := map[string]interface{}{"enabled": o.Enabled}
	optional := []struct {
		key   string
		value float64
	}{
		{"baseMs", o.BaseMs},
		{"doublingEvery", o.DoublingEvery},
		{"stallFrom", o.StallFrom},
		{"stallStep", o.StallStep},
		{"stallMax", o.StallMax},
		{"stallMaxMs", o.StallMaxMs},
	}
	for _, field := range optional {
		if field.value != 0 {
			body[field.key] = field.value
		}
	}
	if o.Seed != 0 {
		body["seed"] = o.Seed
	}
	return s.Call(ctx, http.MethodPost, "/faults/contention", body, nil)
}

// WriteStats counts token writes that reached pachd (GetAuthToken,
// ExtendAuthToken, RevokeAuthToken, RestoreAuthToken in 1.x; GetRobotToken,
// RestoreAuthToken, RevokeAuthToken, RevokeAuthTokensForUser, RotateRootToken
// in 2.x), with or without contention.
type WriteStats struct {
	Total     int64 `json:"total"`
	Applied   int64 `json:"applied"`
	Stalled   int64 `json:"stalled"`
	Abandoned int64 `json:"abandoned"`
	// InFlight counts writes arrived and not finished yet.
	InFlight int64 `json:"inFlight"`
	// MaxInFlight is the most writes in flight at once since start or ResetStats.
	MaxInFlight int64 `json:"maxInFlight"`
}

// CallStats counts every call that reached pachd.
type CallStats struct {
	Total int64 `json:"total"`
	// ByCaller counts calls per SHA-256 (hex) of the token they carried.
	ByCaller map[string]int64 `json:"byCaller"`
}

// Stats is GET /stats.
type Stats struct {
	Writes WriteStats `json:"writes"`
	Calls  CallStats  `json:"calls"`
}

// Stats reads the stand-in's counters.
func (s *Standin) Stats(ctx context.Context) (*Stats, error) {
	var out Stats
	err := s.Call(ctx, http.MethodGet, "/stats", nil, &out)
	return &out, err
}

// ResetStats zeroes the counters; MaxInFlight restarts from the writes still
// in flight.
func (s *Standin) ResetStats(ctx context.Context) error {
	return s.Call(ctx, http.MethodPost, "/stats/reset", map[string]interface{}{}, nil)
}

// HistoryToken is one token ever inserted, revoked or not (never the
// plaintext). Origin is GetAuthToken, GetRobotToken, RestoreAuthToken,
// RotateRootToken, Activate, bootstrap or control.
type HistoryToken struct {
	Hash        string `json:"hash"`
	Subject     string `json:"subject"`
	CreatedAtMs int64  `json:"createdAtMs"`
	Origin      string `json:"origin"`
}

// TokenHistory lists every token inserted since the stand-in started.
func (s *Standin) TokenHistory(ctx context.Context) ([]HistoryToken, error) {
	var out struct {
		Tokens []HistoryToken `json:"tokens"`
	}
	err := s.Call(ctx, http.MethodGet, "/tokens/history", nil, &out)
	return out.Tokens, err
}

// ResourceBinding is one resource's role bindings as GET /bindings lists them:
// Type is cluster, project or repo; Name is pachd's ("" for the cluster,
// project/repo for 2.5+ repos); Entries maps each principal to its roles
// (1.x repos: its scope, READER, WRITER or OWNER).
type ResourceBinding struct {
	Type    string              `json:"type"`
	Name    string              `json:"name"`
	Entries map[string][]string `json:"entries"`
}

// CreateRepo creates a repo as pfs would. project is "" for pachd's default
// (2.5+: project default; required empty before 2.5 and on 1.x); owner, when
// not "", becomes repoOwner (2.x) or gets OWNER (1.x).
func (s *Standin) CreateRepo(ctx context.Context, project, name, owner string) (*ResourceBinding, error) {
	body := map[string]interface{}{"name": name}
	if project != "" {
		body["project"] = project
	}
	if owner != "" {
		body["owner"] = owner
	}
	var out ResourceBinding
	err := s.Call(ctx, http.MethodPost, "/repos", body, &out)
	return &out, err
}

// DeleteRepo deletes a repo and its binding; fullName is project/repo on
// 2.5+ and the bare name before and on 1.x.
func (s *Standin) DeleteRepo(ctx context.Context, fullName string) error {
	return s.Call(ctx, http.MethodDelete, "/repos/"+fullName, nil, nil)
}

// CreateProject creates a project (2.5+); owner, when not "", becomes its
// projectOwner.
func (s *Standin) CreateProject(ctx context.Context, name, owner string) (*ResourceBinding, error) {
	body := map[string]interface{}{"name": name}
	if owner != "" {
		body["owner"] = owner
	}
	var out ResourceBinding
	err := s.Call(ctx, http.MethodPost, "/projects", body, &out)
	return &out, err
}

// DeleteProject deletes a project that has no repos left.
func (s *Standin) DeleteProject(ctx context.Context, name string) error {
	return s.Call(ctx, http.MethodDelete, "/projects/"+name, nil, nil)
}

// Bindings lists every resource's role bindings, the cluster's first.
func (s *Standin) Bindings(ctx context.Context) ([]ResourceBinding, error) {
	var out struct {
		Resources []ResourceBinding `json:"resources"`
	}
	err := s.Call(ctx, http.MethodGet, "/bindings", nil, &out)
	return out.Resources, err
}

// BindingsOf lists the resources on which principal holds any role, so a
// test can assert that nothing was left bound to it.
func (s *Standin) BindingsOf(ctx context.Context, principal string) ([]ResourceBinding, error) {
	all, err := s.Bindings(ctx)
	if err != nil {
		return nil, err
	}
	var held []ResourceBinding
	for _, resource := range all {
		if roles, ok := resource.Entries[principal]; ok && len(roles) > 0 {
			held = append(held, ResourceBinding{Type: resource.Type, Name: resource.Name, Entries: map[string][]string{principal: roles}})
		}
	}
	return held, nil
}

// ---- pachd's auth API over gRPC

// Conn is a shared client connection to pachd (plaintext).
func (s *Standin) Conn() (*grpc.ClientConn, error) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.conn != nil {
		return s.conn, nil
	}
	target := s.Address
	if !strings.HasPrefix(target, "unix:") {
		target = "passthrough:///" + target
	}
	c, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	s.conn = c
	return c, nil
}

// AuthService is "auth.API" (1.x) or "auth_v2.API" (2.x).
func AuthService(generation int) string {
	if generation == 1 {
		return "auth.API"
	}
	return "auth_v2.API"
}

// rawCodec sends and receives already encoded protobuf bytes.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(*b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*b = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

var _ encoding.CodecV2 = rawCodec{}

// Invoke calls a unary method ("/auth.API/WhoAmI") with an encoded request,
// as token (metadata authn-token) when token is not empty.
func Invoke(ctx context.Context, conn *grpc.ClientConn, method, token string, request []byte, opts ...grpc.CallOption) ([]byte, error) {
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authn-token", token)
	}
	var reply []byte
	opts = append([]grpc.CallOption{grpc.ForceCodecV2(rawCodec{})}, opts...)
	if request == nil {
		request = []byte{}
	}
	err := conn.Invoke(ctx, method, &request, &reply, opts...)
	return reply, err
}

// WhoAmIReply holds the fields of WhoAmIResponse this package decodes.
type WhoAmIReply struct {
	Username string
	// TTL (1.x field 3): remaining seconds, -1 for never.
	TTL int64
	// IsAdmin (1.x field 2).
	IsAdmin bool
	// ExpirationSeconds (2.x field 2, Timestamp.seconds); 0 when absent.
	ExpirationSeconds int64
}

// WhoAmI asks pachd who token is. It waits for the connection to be ready
// (up to ctx's deadline), so a pachd that just came back is found.
func (s *Standin) WhoAmI(ctx context.Context, token string) (*WhoAmIReply, error) {
	conn, err := s.Conn()
	if err != nil {
		return nil, err
	}
	b, err := Invoke(ctx, conn, "/"+AuthService(s.Generation)+"/WhoAmI", token, nil, grpc.WaitForReady(true))
	if err != nil {
		return nil, err
	}
	out := &WhoAmIReply{}
	err = eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) {
		switch {
		case num == 1 && typ == protowire.BytesType:
			out.Username = string(v)
		case s.Generation == 1 && num == 2 && typ == protowire.VarintType:
			out.IsAdmin = n != 0
		case s.Generation == 1 && num == 3 && typ == protowire.VarintType:
			out.TTL = int64(n)
		case s.Generation == 2 && num == 2 && typ == protowire.BytesType:
			_ = eachField(v, func(num protowire.Number, typ protowire.Type, _ []byte, n uint64) {
				if num == 1 && typ == protowire.VarintType {
					out.ExpirationSeconds = int64(n)
				}
			})
		}
	})
	return out, err
}

// GetAuthTokenRequest encodes 1.x GetAuthTokenRequest{subject=1, ttl=2}.
func GetAuthTokenRequest(subject string, ttlSeconds int64) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, subject)
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(ttlSeconds))
	return b
}

// GetAuthToken calls 1.x GetAuthToken on conn as adminToken and returns the
// new token (response field 1).
// RestoreAuthTokenV1Request encodes a 1.x RestoreAuthTokenRequest: a
// HashedAuthToken (hashed_token = 1, token_info = 2 {subject = 1, source = 2},
// expiration = 3 Timestamp) installing the token whose hash is given.
func RestoreAuthTokenV1Request(hashedToken, subject string, expires time.Time) []byte {
	var info []byte
	info = protowire.AppendTag(info, 1, protowire.BytesType)
	info = protowire.AppendString(info, subject)
	info = protowire.AppendTag(info, 2, protowire.VarintType)
	info = protowire.AppendVarint(info, 2) // GET_TOKEN
	var ts []byte
	ts = protowire.AppendTag(ts, 1, protowire.VarintType)
	ts = protowire.AppendVarint(ts, uint64(expires.Unix()))
	var hashed []byte
	hashed = protowire.AppendTag(hashed, 1, protowire.BytesType)
	hashed = protowire.AppendString(hashed, hashedToken)
	hashed = protowire.AppendTag(hashed, 2, protowire.BytesType)
	hashed = protowire.AppendBytes(hashed, info)
	hashed = protowire.AppendTag(hashed, 3, protowire.BytesType)
	hashed = protowire.AppendBytes(hashed, ts)
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	return protowire.AppendBytes(b, hashed)
}

func GetAuthToken(ctx context.Context, conn *grpc.ClientConn, adminToken string, request []byte) (string, error) {
	b, err := Invoke(ctx, conn, "/auth.API/GetAuthToken", adminToken, request)
	if err != nil {
		return "", err
	}
	var token string
	err = eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) {
		if num == 1 && typ == protowire.BytesType {
			token = string(v)
		}
	})
	if err == nil && token == "" {
		err = fmt.Errorf("GetAuthTokenResponse without a token (%x)", b)
	}
	return token, err
}

// eachField walks the top-level fields of an encoded message: bytes fields
// get v, varint fields n.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, n uint64)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		switch typ {
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			fn(num, typ, v, 0)
			b = b[m:]
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			fn(num, typ, nil, v)
			b = b[m:]
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			b = b[m:]
		}
	}
	return nil
}
