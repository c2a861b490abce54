package upgrade

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/atomicfile"
)

// DefaultMaxSize bounds a published build unless central's
// --upgrade-max-bytes says otherwise.
const DefaultMaxSize = 256 << 20

// versionRE is what a build's version may look like.
var versionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}$`) })

// Builds keeps the published build in a directory: its bytes
// (build.bin), its description (build.json) and the signing key.
type Builds struct {
	dir     string
	key     ed25519.PrivateKey
	maxSize int64
	// mu guards the following.
	mu  sync.Mutex
	cur *api.Upgrade
}

// OpenBuilds opens (making it if need be) the upgrade directory dir.
// maxSize bounds a build (0: DefaultMaxSize).
func OpenBuilds(dir string, maxSize int64) (*Builds, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("upgrade directory: %w", err)
	}
	key, err := loadOrCreateKey(dir)
	if err != nil {
		return nil, err
	}
	b := &Builds{dir: dir, key: key, maxSize: maxSize}
	data, err := os.ReadFile(filepath.Join(dir, "build.json"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("published build: %w", err)
	default:
		var u api.Upgrade
		if err := json.Unmarshal(data, &u); err != nil {
			return nil, fmt.Errorf("published build: %w", err)
		}
		b.cur = &u
	}
	return b, nil
}

// PublicKey is the key nodes verify builds with.
func (b *Builds) PublicKey() ed25519.PublicKey { return b.key.Public().(ed25519.PublicKey) }

// MaxSize is the largest build central takes.
func (b *Builds) MaxSize() int64 { return b.maxSize }

// Current returns the published build, if any.
func (b *Builds) Current() (api.Upgrade, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur == nil {
		return api.Upgrade{}, false
	}
	return *b.cur, true
}

// Publish stores the build read from r as the one offered to nodeIDs (or
// percent of all nodes), signed, after checking that it is an ELF
// executable for arch of at most MaxSize bytes. What was published before
// stays until the new build is whole.
func (b *Builds) Publish(version, arch string, r io.Reader, nodeIDs []int64, percent int) (api.Upgrade, error) {
	if !versionRE().MatchString(version) {
		return api.Upgrade{}, badInput("version %q: want 1-64 letters, digits and ._+~-", version)
	}
	if _, ok := api.ELFMachines[arch]; !ok {
		return api.Upgrade{}, badInput("unknown architecture %q", arch)
	}
	if percent < 0 || percent > 100 {
		return api.Upgrade{}, badInput("percent %d: want 1 to 100", percent)
	}
	tmp, err := atomicfile.Create(filepath.Join(b.dir, "upload"), 0o600)
	if err != nil {
		return api.Upgrade{}, fmt.Errorf("store build: %w", err)
	}
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, b.maxSize+1))
	if err != nil {
		return api.Upgrade{}, fmt.Errorf("store build: %w", err)
	}
	if n > b.maxSize {
		return api.Upgrade{}, badInput("the build is larger than %d bytes (central's --upgrade-max-bytes)", b.maxSize)
	}
	if err := api.CheckELF(tmp, arch); err != nil {
		return api.Upgrade{}, badInput("%v", err)
	}
	u := api.Upgrade{Version: version, Arch: arch, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)),
		NodeIDs: slices.Clip(nodeIDs), Percent: percent, PublicKey: b.PublicKey()}
	u.Signature = ed25519.Sign(b.key, api.UpgradeMessage(u))
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := tmp.CommitAs(filepath.Base(b.binPath(u.SHA256))); err != nil {
		return api.Upgrade{}, fmt.Errorf("store build: %w", err)
	}
	data, _ := json.MarshalIndent(u, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(b.dir, "build.json"), data, 0o600); err != nil {
		return api.Upgrade{}, fmt.Errorf("store build: %w", err)
	}
	if b.cur != nil && b.cur.SHA256 != u.SHA256 {
		os.Remove(b.binPath(b.cur.SHA256))
	}
	b.cur = &u
	return u, nil
}

// Open opens the published build's bytes if its SHA-256 is sha.
func (b *Builds) Open(sha string) (*os.File, error) {
	cur, ok := b.Current()
	if !ok || cur.SHA256 != sha {
		return nil, fs.ErrNotExist
	}
	return os.Open(b.binPath(sha))
}

func (b *Builds) binPath(sha string) string { return filepath.Join(b.dir, "build-"+sha+".bin") }

// OfferedTo reports whether u is offered to node id: u names it, or names
// no node and the node falls in u's percent (a fixed draw per node, so
// that a larger percent later keeps the nodes already chosen).
func OfferedTo(u api.Upgrade, id int64) bool {
	if len(u.NodeIDs) > 0 {
		return slices.Contains(u.NodeIDs, id)
	}
	if u.Percent == 0 || u.Percent >= 100 {
		return true
	}
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(id))
	sum := sha256.Sum256(buf[:])
	return int(binary.BigEndian.Uint32(sum[:4])%100) < u.Percent
}

// inputError is a refusal of bad input, answered 400.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

func badInput(format string, a ...any) error { return &inputError{fmt.Sprintf(format, a...)} }
