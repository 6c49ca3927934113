package conformance

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
)

// The single executables' structure, for both architectures `make plugin` writes. The amd64 one
// also runs through every other test here; the arm64 one cannot run on the CI machine, so this
// is what CI knows of it (README: "linux/arm64").

// seaRuntimeVersion is the Node release package.json pins for the single executables.
func seaRuntimeVersion(t *testing.T) string {
	t.Helper()
	p := os.Getenv("PACKAGE_JSON")
	if p == "" {
		p = filepath.Join("..", "..", "package.json")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading %s: %v", p, err)
	}
	var pkg struct {
		SeaRuntime struct {
			Version string `json:"version"`
		} `json:"seaRuntime"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil || pkg.SeaRuntime.Version == "" {
		t.Fatalf("%s: no seaRuntime.version (err=%v)", p, err)
	}
	return "v" + pkg.SeaRuntime.Version
}

// Node's SEA blob header (src/node_sea.h): a magic number, then flags.
const (
	seaBlobMagic        = 0x143da20
	seaFlagUseCodeCache = 1 << 2
)

// seaBlob returns the payload of the ELF note postject adds (name NODE_SEA_BLOB, in a PT_NOTE
// segment of its own, which is where Node looks for it at start-up).
func seaBlob(t *testing.T, f *elf.File) []byte {
	t.Helper()
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err != nil {
			t.Fatalf("reading a PT_NOTE segment: %v", err)
		}
		for len(data) >= 12 {
			namesz := f.ByteOrder.Uint32(data[0:4])
			descsz := f.ByteOrder.Uint32(data[4:8])
			nameEnd := 12 + int(namesz)
			descStart := 12 + int((namesz+3)&^3)
			descEnd := descStart + int(descsz)
			if descEnd > len(data) || nameEnd > len(data) {
				break
			}
			if string(bytes.TrimRight(data[12:nameEnd], "\x00")) == "NODE_SEA_BLOB" {
				return data[descStart:descEnd]
			}
			data = data[descStart+int((descsz+3)&^3):]
		}
	}
	return nil
}

func TestSingleExecutables(t *testing.T) {
	version := seaRuntimeVersion(t)
	cases := []struct {
		name, file string
		machine    elf.Machine
		// the blob carries V8's code cache only for the build host's architecture
		codeCache bool
	}{
		{"linux_amd64", filepath.Join(buildDir(), "pachyderm"), elf.EM_X86_64, true},
		{"linux_arm64", filepath.Join(buildDir(), "linux_arm64", "pachyderm"), elf.EM_AARCH64, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, err := os.ReadFile(c.file)
			if err != nil {
				t.Fatalf("%v (make plugin writes both executables)", err)
			}
			f, err := elf.NewFile(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("%s is not an ELF file: %v", c.file, err)
			}
			if f.Class != elf.ELFCLASS64 || f.Machine != c.machine || f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
				t.Errorf("%s: %v %v %v, want a 64-bit %v executable", c.file, f.Class, f.Machine, f.Type, c.machine)
			}
			blob := seaBlob(t, f)
			if len(blob) < 8 {
				t.Fatalf("%s: no NODE_SEA_BLOB note: Node would start as plain node, not as the plugin", c.file)
			}
			if magic := binary.LittleEndian.Uint32(blob[0:4]); magic != seaBlobMagic {
				t.Errorf("%s: blob magic %#x, want %#x", c.file, magic, seaBlobMagic)
			}
			if flags := binary.LittleEndian.Uint32(blob[4:8]); (flags&seaFlagUseCodeCache != 0) != c.codeCache {
				t.Errorf("%s: blob flags %#x, code cache want %v", c.file, flags, c.codeCache)
			}
			// The bundle's own text, so the blob is ours and not some other application's.
			if !bytes.Contains(blob, []byte("not a program to run by hand")) {
				t.Errorf("%s: the blob does not hold the plugin's bundle", c.file)
			}
			// postject turns the fuse's last character from 0 to 1; with 0 Node ignores the blob.
			if !bytes.Contains(raw, []byte("NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2:1")) {
				t.Errorf("%s: the SEA fuse is not set", c.file)
			}
			// process.release's download URLs carry the runtime's version.
			if !bytes.Contains(raw, []byte("/"+version+"/")) {
				t.Errorf("%s: does not look like Node %s", c.file, version)
			}
		})
	}
}

// TestEmbeddedNodeVersion: the running amd64 executable reports the pinned runtime.
func TestEmbeddedNodeVersion(t *testing.T) {
	tg := targetByName(t, targetPachyderm)
	want := seaRuntimeVersion(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cat := newCatalog(t, hclog.Info)
	m, err := cat.Mount(ctx, tg.path, nil)
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	defer m.Cleanup(context.Background())
	r := m.Read(ctx, "version/client-only")
	if r.Err != nil || r.Resp == nil {
		t.Fatalf("read version/client-only: %v", r)
	}
	if got := r.Resp.Data["node_version"]; got != want {
		t.Errorf("node_version %v, want %s (package.json seaRuntime)", got, want)
	}
}
