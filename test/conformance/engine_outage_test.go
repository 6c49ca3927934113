package conformance

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// outageProxy stands between the plugin and the pachd stand-in. While down
// it accepts connections and closes them at once (the client sees its
// connection attempt fail, as with a refused connection) and records when
// each attempt came, which a closed port cannot tell; while up it forwards
// bytes to the stand-in.
type outageProxy struct {
	ln     net.Listener
	target string

	mu        sync.Mutex
	up        bool
	refused   []time.Time // attempts while down
	accepted  []time.Time // connections forwarded while up
	conns     map[net.Conn]bool
	closed    bool
	acceptErr error
}

func startOutageProxy(t *testing.T, target string) *outageProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &outageProxy{ln: ln, target: target, up: true, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *outageProxy) addr() string { return p.ln.Addr().String() }

func (p *outageProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			p.mu.Lock()
			p.acceptErr = err
			p.mu.Unlock()
			return
		}
		p.mu.Lock()
		if !p.up || p.closed {
			p.refused = append(p.refused, time.Now())
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.accepted = append(p.accepted, time.Now())
		p.conns[c] = true
		p.mu.Unlock()
		go p.forward(c)
	}
}

func (p *outageProxy) forward(c net.Conn) {
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		c.Close()
	}()
	d, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.conns[d] = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, d)
		p.mu.Unlock()
		d.Close()
	}()
	go func() {
		_, _ = io.Copy(d, c)
		d.Close()
	}()
	_, _ = io.Copy(c, d)
}

// setUp switches between forwarding and failing connection attempts; going
// down drops every established connection, like a pachd that goes away.
func (p *outageProxy) setUp(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if !up {
		for c := range p.conns {
			c.Close()
		}
	}
}

func (p *outageProxy) refusedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.refused)
}

func (p *outageProxy) timeline(since time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var parts []string
	for _, at := range p.refused {
		parts = append(parts, fmt.Sprintf("refused@%+.2fs", at.Sub(since).Seconds()))
	}
	for _, at := range p.accepted {
		if at.After(since) {
			parts = append(parts, fmt.Sprintf("connected@%+.2fs", at.Sub(since).Seconds()))
		}
	}
	return strings.Join(parts, " ")
}

func (p *outageProxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
}

// TestEngineFirstRequestAfterOutage: after pachd was away for a while, the
// first request once it is back must reach it. The engine's pachd client
// says so (pachd/connection.ts: "lets a pachd that is back answer at once"):
// a call that fails because the channel has no connection asks the channel
// to connect and tries once more.
//
// The proxy records each connection attempt of the plugin, so pachd comes
// back right after one (the plugin's reconnect backoff then has its full
// length still to run) and the request follows at once. The channel code is
// the same for both generations; this runs against 2.x.
func TestEngineFirstRequestAfterOutage(t *testing.T) {
	e := newEngineEnv(t, pachdGenerations[1])
	p := startOutageProxy(t, e.pachd.Address)
	e.configure(map[string]interface{}{"pachd_address": "grpc://" + p.addr()})
	e.login("robot:warm", "10m", "")

	downAt := time.Now()
	p.setUp(false)
	// Keep requests coming, as Vault clients would, so the plugin keeps
	// trying to reconnect, until it has tried 7 times (its backoff has grown
	// to about 3s, the configured maximum).
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			r := e.write("login", map[string]interface{}{"username": "robot:ci", "ttl": "10m"})
			if r.Err == nil {
				t.Errorf("login succeeded while pachd was unreachable")
			}
			n++
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for p.refusedCount() < 7 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	failed := <-done
	if p.refusedCount() < 7 {
		t.Fatalf("the plugin tried to reconnect only %d times in 30s (%d requests)", p.refusedCount(), failed)
	}

	p.setUp(true)
	backAt := time.Now()
	r := e.write("login", map[string]interface{}{"username": "robot:ci", "ttl": "10m"})
	took := time.Since(backAt)
	time.Sleep(4 * time.Second) // let the plugin's next attempt show in the timeline
	if !expectOK(t, "the first login after pachd came back", r) {
		t.Errorf("pachd was down for %.1fs (%d failed logins), back at +%.2fs; the login after it failed after %v.\n"+
			"plugin's connection attempts (relative to pachd going down): %s",
			backAt.Sub(downAt).Seconds(), failed, backAt.Sub(downAt).Seconds(), took.Round(time.Millisecond), p.timeline(downAt))
	} else {
		t.Logf("first login after the outage took %v", took.Round(time.Millisecond))
	}
}
