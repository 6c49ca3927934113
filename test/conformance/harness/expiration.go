package harness

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// Expiration is a stand-in for Vault's expiration manager, shared by every
// mount of a host: it registers the lease of each answer that carries a
// Secret (as vault/request_handling.go and ExpirationManager.Register do:
// validate, default and cap the TTL, lease id = mount path + request path +
// "/" + a random suffix, set on the answer), and renews and revokes leases
// by sending what renewEntry and revokeEntry send (the lease's path and data,
// its secret with the issue time; renew without the lease id and with the
// increment, revoke with the lease id). A renewal's answer replaces the
// lease's secret and data; a successful revocation forgets the lease.
type Expiration struct {
	mu     sync.Mutex
	leases map[string]*Lease
	// locks serialise the renewals and revocations of one lease, as Vault's
	// per-lease locks do: a renewal never overtakes the revocation of its lease.
	locks map[string]*sync.Mutex
}

// Lease is one registered lease.
type Lease struct {
	ID        string
	Mount     *Mount
	Path      string // relative to the mount, as the plugin saw it
	Data      map[string]interface{}
	Secret    logical.Secret
	IssueTime time.Time
	Renewed   time.Time
}

// NewExpiration returns an expiration manager with no lease.
func NewExpiration() *Expiration {
	return &Expiration{leases: map[string]*Lease{}, locks: map[string]*sync.Mutex{}}
}

func (x *Expiration) lock(id string) func() {
	x.mu.Lock()
	l, ok := x.locks[id]
	if !ok {
		l = &sync.Mutex{}
		x.locks[id] = l
	}
	x.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// ErrNoSecret: the answer carries no Secret, so Vault registers no lease.
var ErrNoSecret = errors.New("the answer carries no secret: no lease is registered")

// Register registers the lease of an answer of m to req. It fails, and
// registers nothing, when there is no answer or no Secret (what Vault would
// then hand back holds no lease) or when the Secret is invalid.
func (x *Expiration) Register(m *Mount, req *logical.Request, resp *logical.Response) (*Lease, error) {
	if resp == nil || resp.Secret == nil {
		return nil, ErrNoSecret
	}
	if resp.IsError() {
		return nil, fmt.Errorf("an error answer carries a secret: %v", resp.Error())
	}
	if err := resp.Secret.Validate(); err != nil {
		return nil, err
	}
	sys := m.System
	if resp.Secret.TTL == 0 && sys != nil {
		resp.Secret.TTL = sys.DefaultLeaseTTLVal
	}
	if sys != nil && sys.MaxLeaseTTLVal > 0 && resp.Secret.TTL > sys.MaxLeaseTTLVal {
		resp.Secret.TTL = sys.MaxLeaseTTLVal
	}
	suffix, err := RandomBase62(24)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	l := &Lease{
		ID:        strings.TrimSuffix(m.Path, "/") + "/" + strings.Trim(req.Path, "/") + "/" + suffix,
		Mount:     m,
		Path:      req.Path,
		Data:      resp.Data,
		Secret:    *resp.Secret,
		IssueTime: now,
	}
	l.Secret.IssueTime = now
	l.Secret.LeaseID = l.ID
	resp.Secret.LeaseID = l.ID
	x.mu.Lock()
	x.leases[l.ID] = l
	x.mu.Unlock()
	return l, nil
}

// Lookup returns a copy of the lease with this id, or nil.
func (x *Expiration) Lookup(id string) *Lease {
	x.mu.Lock()
	defer x.mu.Unlock()
	l, ok := x.leases[id]
	if !ok {
		return nil
	}
	cp := *l
	return &cp
}

// Leases returns copies of every registered lease (of every mount), by id.
func (x *Expiration) Leases() []*Lease {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]*Lease, 0, len(x.leases))
	for _, l := range x.leases {
		cp := *l
		out = append(out, &cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Len is the number of registered leases.
func (x *Expiration) Len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.leases)
}

// Renew sends the renewal of a lease with the given increment. A nil result
// means the lease is not (or no longer) registered.
func (x *Expiration) Renew(ctx context.Context, id string, increment time.Duration) *Result {
	defer x.lock(id)()
	l := x.Lookup(id)
	if l == nil {
		return nil
	}
	s := l.Secret
	s.IssueTime = l.IssueTime
	s.Increment = increment
	s.LeaseID = ""
	req := l.Mount.NewRequest(logical.RenewOperation, l.Path, l.Data)
	req.Secret = &s
	r := l.Mount.Do(ctx, req)
	if r.Err == nil && r.Resp != nil && !r.Resp.IsError() && r.Resp.Secret != nil && r.Resp.Secret.Validate() == nil {
		x.mu.Lock()
		if held, ok := x.leases[id]; ok {
			held.Secret = *r.Resp.Secret
			held.Secret.IssueTime = held.IssueTime
			held.Secret.LeaseID = id
			held.Data = r.Resp.Data
			held.Renewed = time.Now()
		}
		x.mu.Unlock()
	}
	return r
}

// Revoke sends the revocation of a lease; the lease is forgotten when the
// plugin answers without error (Vault retries the others). A nil result
// means the lease is not (or no longer) registered.
func (x *Expiration) Revoke(ctx context.Context, id string) *Result {
	defer x.lock(id)()
	l := x.Lookup(id)
	if l == nil {
		return nil
	}
	s := l.Secret
	s.IssueTime = l.IssueTime
	s.Increment = 0
	s.LeaseID = l.ID
	req := l.Mount.NewRequest(logical.RevokeOperation, l.Path, l.Data)
	req.Secret = &s
	r := l.Mount.Do(ctx, req)
	if r.Err == nil && (r.Resp == nil || !r.Resp.IsError()) {
		x.mu.Lock()
		delete(x.leases, id)
		x.mu.Unlock()
	}
	return r
}
