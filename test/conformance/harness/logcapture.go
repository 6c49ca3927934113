package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
)

// LogCapture is the sink behind the host ("Vault") logger. The logger writes
// hclog JSON lines into it; go-plugin re-logs every stderr line of a plugin
// through that logger, so tests can find plugin log lines here with the level
// the host assigned to them.
type LogCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// Mirror, when set, receives a copy of everything written (e.g. os.Stderr
	// for verbose runs).
	Mirror io.Writer
}

// Write implements io.Writer; safe for concurrent use.
func (c *LogCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Mirror != nil {
		_, _ = c.Mirror.Write(p)
	}
	return c.buf.Write(p)
}

// String returns everything captured so far.
func (c *LogCapture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// Len is the number of bytes captured so far; use it as a mark for Since.
func (c *LogCapture) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Len()
}

// Since returns what was captured after the given mark (a value of Len).
func (c *LogCapture) Since(mark int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.buf.Bytes()
	if mark > len(b) {
		return ""
	}
	return string(b[mark:])
}

// Contains reports whether the captured text contains s anywhere.
func (c *LogCapture) Contains(s string) bool {
	return strings.Contains(c.String(), s)
}

// LogEntry is one parsed hclog JSON line.
type LogEntry struct {
	Level   string         // trace, debug, info, warn, error
	Message string         // @message
	Module  string         // @module (logger name)
	Fields  map[string]any // every other key
	Raw     string
}

// Entries parses every captured line. Lines that are not JSON are returned
// with Level "" and Message = the raw line.
func (c *LogCapture) Entries() []LogEntry {
	return ParseLogLines(c.String())
}

// ParseLogLines parses hclog JSON lines.
func ParseLogLines(text string) []LogEntry {
	var out []LogEntry
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 64*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			out = append(out, LogEntry{Message: line, Raw: line})
			continue
		}
		e := LogEntry{Fields: map[string]any{}, Raw: line}
		for k, v := range m {
			switch k {
			case "@level":
				e.Level, _ = v.(string)
			case "@message":
				e.Message, _ = v.(string)
			case "@module":
				e.Module, _ = v.(string)
			case "@timestamp":
			default:
				e.Fields[k] = v
			}
		}
		out = append(out, e)
	}
	return out
}

// Find returns the entries whose message equals message and, if level is
// not empty, whose level equals level.
func (c *LogCapture) Find(message, level string) []LogEntry {
	var out []LogEntry
	for _, e := range c.Entries() {
		if e.Message == message && (level == "" || e.Level == level) {
			out = append(out, e)
		}
	}
	return out
}

// FindContaining returns the entries whose message contains sub.
func (c *LogCapture) FindContaining(sub string) []LogEntry {
	var out []LogEntry
	for _, e := range c.Entries() {
		if strings.Contains(e.Message, sub) {
			out = append(out, e)
		}
	}
	return out
}

// WaitFor polls until an entry with the given message (and level, if not
// empty) appears or the timeout passes. Plugin stderr is read by a goroutine
// in go-plugin, so a line logged during a request may land a moment after
// the request returned.
func (c *LogCapture) WaitFor(message, level string, timeout time.Duration) (LogEntry, bool) {
	deadline := time.Now().Add(timeout)
	for {
		if found := c.Find(message, level); len(found) > 0 {
			return found[0], true
		}
		if time.Now().After(deadline) {
			return LogEntry{}, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// NewHostLogger returns a JSON hclog logger writing into capture at level.
func NewHostLogger(name string, level hclog.Level, capture *LogCapture) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      level,
		Output:     capture,
		JSONFormat: true,
	})
}
