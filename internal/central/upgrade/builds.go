package upgrade

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/atomicfile"
	"github.com/orbisproject/orbis/internal/central/store"
)

// DefaultMaxSize bounds a published build unless central's
// --upgrade-max-bytes says otherwise.
const DefaultMaxSize = 256 << 20

// KeepBuilds is how many published builds the store keeps, the newest
// (only the newest is offered; the others are the recent history).
const KeepBuilds = 3

// versionRE is what a build's version may look like.
var versionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}$`) })

// Builds keeps the published builds and the signing key in central's
// store, so that every central process on the database offers the same
// build signed with the same key. The directory dir (DataDir/upgrade)
// holds only what one process may lose: an upload being received, and a
// copy of the offered build's bytes, checked against its SHA-256, that
// this process serves nodes from instead of reading the store each time.
type Builds struct {
	archive store.UpgradeArchive
	dir     string
	key     ed25519.PrivateKey
	maxSize int64
	log     *slog.Logger
	// fill serializes copying a build out of the store into dir.
	fill sync.Mutex
}

// OpenBuilds opens the builds kept in archive, with dir (made if need be)
// for uploads and the copy of the offered build. The signing key is the
// store's; on the first start with a store that has none, a key file an
// older central left in dir (signing-key.pem) is imported, so that nodes
// that keep its public key go on verifying; else a new key is made.
// maxSize bounds a build (0: DefaultMaxSize).
func OpenBuilds(ctx context.Context, archive store.UpgradeArchive, dir string, maxSize int64, log *slog.Logger) (*Builds, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("upgrade directory: %w", err)
	}
	key, err := loadKey(ctx, archive, dir, log)
	if err != nil {
		return nil, err
	}
	sweepPartial(dir)
	b := &Builds{archive: archive, dir: dir, key: key, maxSize: maxSize, log: log}
	if err := b.importOld(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// oldBuildFile is where a central before the store described its one
// published build (api.Upgrade in JSON), beside its bytes
// (build-SHA256.bin).
const oldBuildFile = "build.json"

// importOld stores the build an older central published, if the store
// has none, so that the nodes it was offered to are offered it still.
// It must be whole and signed by the store's key.
func (b *Builds) importOld(ctx context.Context) error {
	data, err := os.ReadFile(filepath.Join(b.dir, oldBuildFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("published build: %w", err)
	}
	if _, err := b.archive.LatestBuild(ctx); !errors.Is(err, store.ErrNotFound) {
		return err // nil: the store has builds, which are newer
	}
	p := filepath.Join(b.dir, oldBuildFile)
	var u api.Upgrade
	if err := json.Unmarshal(data, &u); err != nil {
		b.log.Warn("the build published before the store is unreadable: not offered", "file", p, "err", err)
		return nil
	}
	if !api.VerifyUpgrade(u, b.PublicKey()) {
		b.log.Warn("the build published before the store is not signed by the store's key: not offered", "file", p, "version", u.Version)
		return nil
	}
	f, err := os.Open(b.copyPath(strings.ToLower(u.SHA256)))
	if err != nil {
		b.log.Warn("the bytes of the build published before the store are missing: not offered", "file", p, "err", err)
		return nil
	}
	defer f.Close()
	if err := b.archive.AddBuild(ctx, &store.UpgradeBuild{Upgrade: u}, f, KeepBuilds); err != nil {
		return fmt.Errorf("import the build published before the store (%s; remove it to start without it): %w", p, err)
	}
	b.log.Info("the build published before the store imported into it", "version", u.Version, "sha256", u.SHA256)
	return nil
}

// partialAge is how old an upload or copy left in the upgrade directory
// must be to be taken for one a crash left (another process sharing the
// directory may be writing a younger one).
const partialAge = time.Hour

// sweepPartial removes the uploads and copies that a crash left in dir.
func sweepPartial(dir string) {
	for _, pattern := range []string{"upload-*", "copy-*"} {
		files, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, p := range files {
			if fi, err := os.Lstat(p); err == nil && time.Since(fi.ModTime()) > partialAge {
				os.Remove(p)
			}
		}
	}
}

// PublicKey is the key nodes verify builds with.
func (b *Builds) PublicKey() ed25519.PublicKey { return b.key.Public().(ed25519.PublicKey) }

// MaxSize is the largest build central takes.
func (b *Builds) MaxSize() int64 { return b.maxSize }

// Current returns the published build (the newest), if any.
func (b *Builds) Current(ctx context.Context) (api.Upgrade, bool, error) {
	sb, err := b.archive.LatestBuild(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return api.Upgrade{}, false, nil
	}
	if err != nil {
		return api.Upgrade{}, false, err
	}
	u := sb.Upgrade
	u.PublicKey = b.PublicKey()
	return u, true, nil
}

// Publish stores the build read from r as the one offered to nodeIDs (or
// percent of all nodes), signed, after checking that it is an ELF
// executable for arch of at most MaxSize bytes. What was published before
// stays offered until the new build is whole in the store.
func (b *Builds) Publish(ctx context.Context, version, arch string, r io.Reader, nodeIDs []int64, percent int) (api.Upgrade, error) {
	if !versionRE().MatchString(version) {
		return api.Upgrade{}, badInput("version %q: want 1-64 letters, digits and ._+~-", version)
	}
	if _, ok := api.ELFMachines[arch]; !ok {
		return api.Upgrade{}, badInput("unknown architecture %q", arch)
	}
	if percent < 0 || percent > 100 {
		return api.Upgrade{}, badInput("percent %d: want 1 to 100", percent)
	}
	tmp, err := os.CreateTemp(b.dir, "upload-*")
	if err != nil {
		return api.Upgrade{}, fmt.Errorf("receive build: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, b.maxSize+1))
	if err != nil {
		return api.Upgrade{}, fmt.Errorf("receive build: %w", err)
	}
	if n > b.maxSize {
		return api.Upgrade{}, badInput("the build is larger than %d bytes (central's --upgrade-max-bytes)", b.maxSize)
	}
	if err := api.CheckELF(tmp, arch); err != nil {
		return api.Upgrade{}, badInput("%v", err)
	}
	u := api.Upgrade{Version: version, Arch: arch, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)),
		NodeIDs: slices.Clip(nodeIDs), Percent: percent}
	u.Signature = ed25519.Sign(b.key, api.UpgradeMessage(u))
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return api.Upgrade{}, fmt.Errorf("store build: %w", err)
	}
	if err := b.archive.AddBuild(ctx, &store.UpgradeBuild{Upgrade: u}, tmp, KeepBuilds); err != nil {
		return api.Upgrade{}, fmt.Errorf("store build: %w", err)
	}
	u.PublicKey = b.PublicKey()
	return u, nil
}

// Open opens the bytes of the published build whose SHA-256 is sha (the
// caller checked it is the one offered): this process's copy, made from
// the store on first use.
func (b *Builds) Open(ctx context.Context, sha string) (*os.File, error) {
	if len(sha) != sha256.Size*2 || strings.Trim(strings.ToLower(sha), "0123456789abcdef") != "" {
		return nil, fs.ErrNotExist
	}
	sha = strings.ToLower(sha)
	if f, err := os.Open(b.copyPath(sha)); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return f, err
	}
	b.fill.Lock()
	defer b.fill.Unlock()
	if f, err := os.Open(b.copyPath(sha)); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return f, err
	}
	if err := b.copyOut(ctx, sha); err != nil {
		return nil, err
	}
	b.pruneCopies(ctx)
	return os.Open(b.copyPath(sha))
}

// copyOut copies build sha's bytes from the store into dir, checked.
func (b *Builds) copyOut(ctx context.Context, sha string) error {
	r, err := b.archive.OpenBuild(ctx, sha)
	if errors.Is(err, store.ErrNotFound) {
		return fs.ErrNotExist
	}
	if err != nil {
		return err
	}
	defer r.Close()
	err = atomicfile.Write(b.copyPath(sha), 0o600, func(w io.Writer) error {
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(r, b.maxSize+1)); err != nil {
			return fmt.Errorf("copy build %s from the store: %w", sha, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != sha {
			return fmt.Errorf("copy build %s from the store: its bytes' SHA-256 is %s", sha, got)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("copy build: %w", err)
	}
	return nil
}

// pruneCopies removes the copies of builds the store no longer keeps.
func (b *Builds) pruneCopies(ctx context.Context) {
	kept, err := b.archive.UpgradeBuilds(ctx)
	if err != nil {
		b.log.Warn("list upgrade builds", "err", err)
		return
	}
	copies, _ := filepath.Glob(filepath.Join(b.dir, "build-*.bin"))
	for _, p := range copies {
		if !slices.ContainsFunc(kept, func(k store.UpgradeBuild) bool { return b.copyPath(k.SHA256) == p }) {
			os.Remove(p)
		}
	}
}

func (b *Builds) copyPath(sha string) string { return filepath.Join(b.dir, "build-"+sha+".bin") }

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
