// Package rootfs keeps the node's reference images: read-only, root-owned
// directory trees that every sliver's copy-on-write root is layered over.
//
// An image lives in <state>/images/<name>/ as a directory tree rootfs/ and a
// description image.json. Images are built in a temporary directory beside
// their final place and renamed into it, so a name either names a whole image
// or nothing; building a name that exists is a no-op. The directory
// <name>/ is root's and mode 0700, so no other host user can reach the tree;
// slivers see it only through a read-only (idmapped) mount made by root.
package rootfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultStateDir is the node's state directory when none is given.
const DefaultStateDir = "/var/lib/orbis"

// Kinds of image Build knows how to make.
const (
	KindBusybox = "busybox" // a static busybox and its applets: tiny, for tests
	KindDebian  = "debian"  // debootstrap --variant=minbase of Debian
)

// ErrNotFound is returned for an image name that has no complete image.
var ErrNotFound = errors.New("image not found")

// Image describes one built image, as stored in its image.json.
type Image struct {
	Name    string    `json:"name"`
	Kind    string    `json:"kind"`
	Created time.Time `json:"created"`
	// Size is the disk space the tree uses, in bytes (hard links counted once).
	Size int64 `json:"size"`
	// Files counts the tree's entries of every type, directories included.
	Files int64 `json:"files"`
}

// Options tune how images are built; the zero value uses the host's defaults.
type Options struct {
	// Busybox is the static busybox binary copied into busybox images
	// (default /bin/busybox, from Debian's busybox-static).
	Busybox string
	// Suite is the Debian suite debootstrap installs (default "stable").
	Suite string
	// Mirror is the Debian mirror; by default the one apt uses on this host,
	// read from AptDir.
	Mirror string
	// AptDir is where apt's sources are read from (default /etc/apt).
	AptDir string
	// NetTools is the static ping-orbis program installed as the images'
	// ping and traceroute (default: ping-orbis beside the orbis binary).
	NetTools string
	// Include lists extra packages for debian images
	// (default openssh-sftp-server, so sftp works in a sliver).
	Include []string
}

// A Store holds the reference images under one state directory.
type Store struct {
	dir  string // <state>/images
	opts Options
	log  *slog.Logger
}

var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9._-]{1,64}$`) })

// checkName refuses names that could escape the images directory or hide
// among its temporary entries.
func checkName(name string) error {
	if !validName().MatchString(name) || name[0] == '.' {
		return fmt.Errorf("invalid image name %q: use 1-64 of [a-z0-9._-], not starting with '.'", name)
	}
	return nil
}

// NewStore returns the store of images under stateDir/images.
func NewStore(stateDir string, opts Options, log *slog.Logger) *Store {
	if opts.Busybox == "" {
		opts.Busybox = "/bin/busybox"
	}
	if opts.Suite == "" {
		opts.Suite = "stable"
	}
	if opts.AptDir == "" {
		opts.AptDir = "/etc/apt"
	}
	if opts.NetTools == "" {
		opts.NetTools = defaultNetTools()
	}
	if opts.Include == nil {
		opts.Include = []string{"openssh-sftp-server"}
	}
	return &Store{dir: filepath.Join(stateDir, "images"), opts: opts, log: log}
}

// Path returns the root directory of the image's tree.
func (s *Store) Path(name string) (string, error) {
	if _, err := s.Get(name); err != nil {
		return "", err
	}
	return filepath.Join(s.dir, name, "rootfs"), nil
}

// Get returns the description of one image.
func (s *Store) Get(name string) (Image, error) {
	var img Image
	if err := checkName(name); err != nil {
		return img, err
	}
	b, err := os.ReadFile(filepath.Join(s.dir, name, "image.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return img, fmt.Errorf("image %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return img, fmt.Errorf("read image: %w", err)
	}
	if err := json.Unmarshal(b, &img); err != nil {
		return img, fmt.Errorf("parse image %s: %w", name, err)
	}
	return img, nil
}

// List returns every complete image, sorted by name.
func (s *Store) List() ([]Image, error) {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var imgs []Image
	for _, e := range ents {
		if !e.IsDir() || checkName(e.Name()) != nil {
			continue
		}
		img, err := s.Get(e.Name())
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		imgs = append(imgs, img)
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Name < imgs[j].Name })
	return imgs, nil
}

// Build makes the image name of the given kind, writing progress lines to
// progress (which may be nil). If the image exists with that kind, Build
// returns it unchanged; with another kind, it fails.
func (s *Store) Build(ctx context.Context, name, kind string, progress io.Writer) (img Image, err error) {
	if err := checkName(name); err != nil {
		return img, err
	}
	build, err := s.builder(kind)
	if err != nil {
		return img, err
	}
	if progress == nil {
		progress = io.Discard
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return img, fmt.Errorf("create images dir: %w", err)
	}
	unlock, err := s.lock(name)
	if err != nil {
		return img, err
	}
	defer unlock()
	if img, err := s.Get(name); !errors.Is(err, ErrNotFound) {
		if err == nil && img.Kind != kind {
			return img, fmt.Errorf("image %s exists with kind %s, not %s", name, img.Kind, kind)
		}
		fmt.Fprintf(progress, "image %s: already built\n", name)
		return img, err
	}
	s.sweepLocked(name)
	tmp, err := os.MkdirTemp(s.dir, ".tmp-"+name+"-")
	if err != nil {
		return img, fmt.Errorf("create build dir: %w", err)
	}
	defer func() {
		if err != nil {
			if rerr := removeTree(tmp); rerr != nil {
				s.log.Warn("remove failed build", "dir", tmp, "err", rerr)
			}
		}
	}()
	start := time.Now()
	root := filepath.Join(tmp, "rootfs")
	if err := build(ctx, root, progress); err != nil {
		return img, fmt.Errorf("build %s image %s: %w", kind, name, err)
	}
	if err := installNetTools(s.opts.NetTools, root, progress); err != nil {
		return img, err
	}
	img = Image{Name: name, Kind: kind, Created: time.Now().UTC().Truncate(time.Second)}
	if img.Size, img.Files, err = seal(root); err != nil {
		return img, fmt.Errorf("seal image: %w", err)
	}
	if err := writeJSON(filepath.Join(tmp, "image.json"), img); err != nil {
		return img, err
	}
	// MkdirTemp made tmp 0700: only root can reach the tree in it.
	if err := os.Chmod(tmp, 0o700); err != nil {
		return img, fmt.Errorf("chmod image dir: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, name)); err != nil {
		return img, fmt.Errorf("install image: %w", err)
	}
	fmt.Fprintf(progress, "image %s: built in %.1fs, %d files, %s\n",
		name, time.Since(start).Seconds(), img.Files, HumanSize(img.Size))
	s.log.Info("image built", "name", name, "kind", kind, "files", img.Files, "size", img.Size, "took", time.Since(start))
	return img, nil
}

// Remove deletes an image; removing an absent image is not an error. The
// caller must make sure no sliver still uses it.
func (s *Store) Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	unlock, err := s.lock(name)
	if err != nil {
		return err
	}
	defer unlock()
	dir := filepath.Join(s.dir, name)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	// Rename first, so the name stops naming an image at once even if the
	// removal of a large tree is interrupted.
	tmp := filepath.Join(s.dir, fmt.Sprintf(".tmp-%s-rm%d", name, time.Now().UnixNano()))
	if err := os.Rename(dir, tmp); err != nil {
		return fmt.Errorf("remove image: %w", err)
	}
	if err := removeTree(tmp); err != nil {
		return fmt.Errorf("remove image: %w", err)
	}
	return nil
}

// builder returns the function that builds a tree of the given kind.
func (s *Store) builder(kind string) (func(ctx context.Context, root string, progress io.Writer) error, error) {
	switch kind {
	case KindBusybox:
		return s.buildBusybox, nil
	case KindDebian:
		return s.buildDebian, nil
	}
	return nil, fmt.Errorf("unknown image kind %q (want %s or %s)", kind, KindBusybox, KindDebian)
}

// lock takes an exclusive lock on the name across processes, so concurrent
// builds of one name do the work once.
func (s *Store) lock(name string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.dir, ".lock-"+name), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock image: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock image: %w", err)
	}
	return func() { f.Close() }, nil
}

// sweepLocked removes temporary directories that an interrupted build or
// removal of name left behind; the caller holds name's lock.
func (s *Store) sweepLocked(name string) {
	old, _ := filepath.Glob(filepath.Join(s.dir, ".tmp-"+name+"-*"))
	for _, dir := range old {
		s.log.Info("removing leftover build dir", "dir", dir)
		if err := removeTree(dir); err != nil {
			s.log.Warn("remove leftover build dir", "dir", dir, "err", err)
		}
	}
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o444); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// HumanSize formats a byte count with a binary unit, as "12.3M".
func HumanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%c", float64(n)/float64(div), "KMGTPE"[exp])
}
