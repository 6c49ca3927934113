// Command refbackend is a Go implementation of the conformance-backend
// contract, built on HashiCorp's Go SDK. It is not part of the product: it
// exists to prove that the conformance tests themselves are right (every
// contract test must pass against it). Build:
//
//	go build -ldflags "-X main.version=v0.1.0" -o /tmp/refbackend ./testdata/refbackend
//
// and run the suite with CONFORMANCE_BACKEND_PATH=/tmp/refbackend.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"sync/atomic"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/plugin"
)

var version = "v0.0.0"

const secretType = "conformance_secret"

type backend struct {
	*framework.Backend
	runs      atomic.Int64
	setupConf map[string]string
	uuid      string
}

func factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := &backend{setupConf: conf.Config, uuid: conf.BackendUUID}
	b.Backend = &framework.Backend{
		Help:           "conformance reference backend",
		BackendType:    logical.TypeLogical,
		RunningVersion: version,
		PathsSpecial: &logical.Paths{
			Root:            []string{"admin/*"},
			Unauthenticated: []string{"public"},
			LocalStorage:    []string{"local/"},
			SealWrapStorage: []string{"config"},
		},
		InitializeFunc: func(ctx context.Context, req *logical.InitializationRequest) error {
			return req.Storage.Put(ctx, &logical.StorageEntry{Key: "initialized", Value: []byte("true")})
		},
		PeriodicFunc: func(context.Context, *logical.Request) error {
			b.runs.Add(1)
			return nil
		},
		Secrets: []*framework.Secret{{
			Type:   secretType,
			Fields: map[string]*framework.FieldSchema{},
			Renew:  b.renew,
			Revoke: b.revoke,
		}},
		Paths: []*framework.Path{
			{
				Pattern: "kv/?$",
				Operations: map[logical.Operation]framework.OperationHandler{
					logical.ListOperation: &framework.PathOperation{Callback: b.kvList},
				},
			},
			{
				Pattern: "kv/" + framework.MatchAllRegex("key"),
				Fields: map[string]*framework.FieldSchema{
					"key":     {Type: framework.TypeString},
					"value":   {Type: framework.TypeString},
					"count":   {Type: framework.TypeInt},
					"enabled": {Type: framework.TypeBool},
					"ttl":     {Type: framework.TypeDurationSecond},
					"tags":    {Type: framework.TypeCommaStringSlice},
					"labels":  {Type: framework.TypeKVPairs},
				},
				ExistenceCheck: func(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
					e, err := req.Storage.Get(ctx, "kv/"+d.Get("key").(string))
					return e != nil, err
				},
				Operations: map[logical.Operation]framework.OperationHandler{
					logical.CreateOperation: &framework.PathOperation{Callback: b.kvWrite("create")},
					logical.UpdateOperation: &framework.PathOperation{Callback: b.kvWrite("update")},
					logical.ReadOperation:   &framework.PathOperation{Callback: b.kvRead},
					logical.DeleteOperation: &framework.PathOperation{Callback: b.kvDelete},
				},
			},
			{
				Pattern: "secret/" + framework.GenericNameRegex("name"),
				Fields: map[string]*framework.FieldSchema{
					"name":    {Type: framework.TypeString},
					"ttl":     {Type: framework.TypeDurationSecond},
					"max_ttl": {Type: framework.TypeDurationSecond},
				},
				Operations: map[logical.Operation]framework.OperationHandler{
					logical.ReadOperation:   &framework.PathOperation{Callback: b.issue},
					logical.UpdateOperation: &framework.PathOperation{Callback: b.issue},
				},
			},
			b.recordPath("revoked"),
			b.recordPath("renewed"),
			{
				Pattern: "big",
				Fields:  map[string]*framework.FieldSchema{"payload": {Type: framework.TypeString}},
				Operations: map[logical.Operation]framework.OperationHandler{
					logical.UpdateOperation: &framework.PathOperation{Callback: b.bigWrite},
					logical.ReadOperation:   &framework.PathOperation{Callback: b.bigRead},
				},
			},
			{
				Pattern: "periodic",
				Operations: map[logical.Operation]framework.OperationHandler{
					logical.ReadOperation: &framework.PathOperation{Callback: func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
						return &logical.Response{Data: map[string]interface{}{"runs": b.runs.Load()}}, nil
					}},
				},
			},
			{
				Pattern: "log",
				Fields: map[string]*framework.FieldSchema{
					"level":       {Type: framework.TypeString},
					"message":     {Type: framework.TypeString},
					"admin_token": {Type: framework.TypeString},
				},
				Operations: map[logical.Operation]framework.OperationHandler{
					logical.UpdateOperation: &framework.PathOperation{Callback: b.log},
				},
			},
			{
				Pattern: "errors/" + framework.GenericNameRegex("kind"),
				Fields:  map[string]*framework.FieldSchema{"kind": {Type: framework.TypeString}},
				Operations: map[logical.Operation]framework.OperationHandler{
					logical.ReadOperation: &framework.PathOperation{Callback: b.errorsRead},
				},
			},
			{
				Pattern: "sys",
				Operations: map[logical.Operation]framework.OperationHandler{
					logical.ReadOperation: &framework.PathOperation{Callback: b.sysRead},
				},
			},
			{
				Pattern: "whoami",
				Operations: map[logical.Operation]framework.OperationHandler{
					logical.ReadOperation: &framework.PathOperation{Callback: b.whoami},
				},
			},
			{
				Pattern: "status",
				Operations: map[logical.Operation]framework.OperationHandler{
					logical.ReadOperation: &framework.PathOperation{Callback: b.status},
				},
			},
			{
				Pattern: "admin/ping",
				Operations: map[logical.Operation]framework.OperationHandler{
					logical.ReadOperation: &framework.PathOperation{Callback: func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
						return &logical.Response{Data: map[string]interface{}{"pong": true}}, nil
					}},
				},
			},
		},
	}
	if err := b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *backend) recordPath(kind string) *framework.Path {
	return &framework.Path{
		Pattern: kind + "/" + framework.GenericNameRegex("name"),
		Fields:  map[string]*framework.FieldSchema{"name": {Type: framework.TypeString}},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{Callback: func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
				e, err := req.Storage.Get(ctx, kind+"/"+d.Get("name").(string))
				if err != nil || e == nil {
					return nil, err
				}
				var internal map[string]interface{}
				if err := json.Unmarshal(e.Value, &internal); err != nil {
					return nil, err
				}
				return &logical.Response{Data: map[string]interface{}{"internal_data": internal}}, nil
			}},
		},
	}
}

type kvEntry struct {
	Value     string            `json:"value"`
	Count     int               `json:"count"`
	Enabled   bool              `json:"enabled"`
	TTL       int               `json:"ttl"`
	Tags      []string          `json:"tags"`
	Labels    map[string]string `json:"labels"`
	WrittenBy string            `json:"written_by"`
}

func (b *backend) kvWrite(by string) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		key := "kv/" + d.Get("key").(string)
		var e kvEntry
		if raw, err := req.Storage.Get(ctx, key); err != nil {
			return nil, err
		} else if raw != nil {
			if err := raw.DecodeJSON(&e); err != nil {
				return nil, err
			}
		}
		if v, ok := d.GetOk("value"); ok {
			e.Value = v.(string)
		}
		if v, ok := d.GetOk("count"); ok {
			e.Count = v.(int)
		}
		if v, ok := d.GetOk("enabled"); ok {
			e.Enabled = v.(bool)
		}
		if v, ok := d.GetOk("ttl"); ok {
			e.TTL = v.(int)
		}
		if v, ok := d.GetOk("tags"); ok {
			e.Tags = v.([]string)
		}
		if v, ok := d.GetOk("labels"); ok {
			e.Labels = v.(map[string]string)
		}
		e.WrittenBy = by
		entry, err := logical.StorageEntryJSON(key, e)
		if err != nil {
			return nil, err
		}
		return nil, req.Storage.Put(ctx, entry)
	}
}

func (b *backend) kvRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	raw, err := req.Storage.Get(ctx, "kv/"+d.Get("key").(string))
	if err != nil || raw == nil {
		return nil, err
	}
	var e kvEntry
	if err := raw.DecodeJSON(&e); err != nil {
		return nil, err
	}
	if e.Tags == nil {
		e.Tags = []string{}
	}
	if e.Labels == nil {
		e.Labels = map[string]string{}
	}
	return &logical.Response{Data: map[string]interface{}{
		"value": e.Value, "count": e.Count, "enabled": e.Enabled, "ttl": e.TTL,
		"tags": e.Tags, "labels": e.Labels, "written_by": e.WrittenBy,
	}}, nil
}

func (b *backend) kvDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return nil, req.Storage.Delete(ctx, "kv/"+d.Get("key").(string))
}

func (b *backend) kvList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	keys, err := req.Storage.List(ctx, "kv/")
	if err != nil {
		return nil, err
	}
	return logical.ListResponse(keys), nil
}

func (b *backend) issue(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	ttl := time.Hour
	if v, ok := d.GetOk("ttl"); ok {
		ttl = time.Duration(v.(int)) * time.Second
	}
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	resp := b.Secret(secretType).Response(
		map[string]interface{}{"name": name, "value": "s3cret-" + name},
		map[string]interface{}{"name": name, "nonce": hex.EncodeToString(nonce), "issued_at": time.Now().UTC().Format(time.RFC3339Nano)},
	)
	resp.Secret.TTL = ttl
	if v, ok := d.GetOk("max_ttl"); ok {
		resp.Secret.MaxTTL = time.Duration(v.(int)) * time.Second
	}
	return resp, nil
}

func (b *backend) record(ctx context.Context, req *logical.Request, kind string) error {
	name, _ := req.Secret.InternalData["name"].(string)
	raw, err := json.Marshal(req.Secret.InternalData)
	if err != nil {
		return err
	}
	return req.Storage.Put(ctx, &logical.StorageEntry{Key: kind + "/" + name, Value: raw})
}

func (b *backend) renew(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	if err := b.record(ctx, req, "renewed"); err != nil {
		return nil, err
	}
	resp := &logical.Response{Secret: req.Secret}
	if req.Secret.Increment > 0 {
		resp.Secret.TTL = req.Secret.Increment
	}
	return resp, nil
}

func (b *backend) revoke(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	return nil, b.record(ctx, req, "revoked")
}

func (b *backend) bigWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return nil, req.Storage.Put(ctx, &logical.StorageEntry{Key: "big", Value: []byte(d.Get("payload").(string))})
}

func (b *backend) bigRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	e, err := req.Storage.Get(ctx, "big")
	if err != nil || e == nil {
		return nil, err
	}
	sum := sha256.Sum256(e.Value)
	return &logical.Response{Data: map[string]interface{}{
		"payload": string(e.Value), "length": len(e.Value), "sha256": hex.EncodeToString(sum[:]),
	}}, nil
}

func (b *backend) log(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	msg := d.Get("message").(string)
	var args []interface{}
	if _, ok := d.GetOk("admin_token"); ok {
		args = append(args, "admin_token", "[redacted]")
	}
	b.Logger().Log(hclog.LevelFromString(d.Get("level").(string)), msg, args...)
	return nil, nil
}

func (b *backend) errorsRead(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	switch d.Get("kind").(string) {
	case "bad_request":
		return nil, &logical.StatusBadRequest{Err: "bad request asked for"}
	case "coded":
		return nil, logical.CodedError(418, "I'm a teapot")
	case "permission":
		return nil, logical.ErrPermissionDenied
	case "internal":
		return nil, errors.New("internal error asked for")
	}
	return nil, logical.ErrUnsupportedPath
}

func (b *backend) sysRead(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
	s := b.System()
	return &logical.Response{Data: map[string]interface{}{
		"default_lease_ttl": int64(s.DefaultLeaseTTL() / time.Second),
		"max_lease_ttl":     int64(s.MaxLeaseTTL() / time.Second),
		"tainted":           s.Tainted(),
		"local_mount":       s.LocalMount(),
		"replication_state": uint32(s.ReplicationState()),
	}}, nil
}

func (b *backend) whoami(_ context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	ent, err := b.System().EntityInfo(req.EntityID)
	if err != nil {
		return nil, err
	}
	data := map[string]interface{}{"entity_id": req.EntityID, "entity_name": ""}
	if ent != nil {
		data["entity_name"] = ent.Name
	}
	return &logical.Response{Data: data}, nil
}

func (b *backend) status(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	e, err := req.Storage.Get(ctx, "initialized")
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]interface{}{
		"initialized": e != nil, "setup_config": b.setupConf, "backend_uuid": b.uuid,
	}}, nil
}

func main() {
	if err := plugin.ServeMultiplex(&plugin.ServeOpts{BackendFactoryFunc: factory}); err != nil {
		hclog.New(&hclog.LoggerOptions{}).Error("plugin shutting down", "error", err)
		os.Exit(1)
	}
}
