package portmgr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// hooks are the attach points, each with its program and its link's pin
// name.
var hooks = []struct {
	prog   string
	attach ebpf.AttachType
}{
	{progBind4, ebpf.AttachCGroupInet4Bind},
	{progBind6, ebpf.AttachCGroupInet6Bind},
	{progSockCreate, ebpf.AttachCGroupInetSockCreate},
	{progSockFree, ebpf.AttachCgroupInetSockRelease},
}

// loadPrograms loads the programs around the reservations and claims
// maps (those of pinned, by name, where it has them). It first asks for the low-port bypass
// (return code 3, Linux 5.12) and falls back to plain allow/deny on a
// kernel whose verifier refuses it; noCap says which it got.
func loadPrograms(pinned map[string]*ebpf.Map, maxSockets int32) (coll *ebpf.Collection, noCap bool, err error) {
	opts := ebpf.CollectionOptions{MapReplacements: pinned}
	coll, err = ebpf.NewCollectionWithOptions(collectionSpec(true, maxSockets), opts)
	if err == nil {
		return coll, true, nil
	}
	var verr *ebpf.VerifierError
	if !errors.As(err, &verr) {
		return nil, false, fmt.Errorf("load bind programs: %w", err)
	}
	coll, err2 := ebpf.NewCollectionWithOptions(collectionSpec(false, maxSockets), opts)
	if err2 != nil {
		return nil, false, fmt.Errorf("load bind programs: %w (with the low-port bypass: %v)", err2, err)
	}
	return coll, false, nil
}

// openPinnedMap returns the map of spec pinned at path, or nil if there
// is none.
func openPinnedMap(path string, spec *ebpf.MapSpec, opts *ebpf.LoadPinOptions) (*ebpf.Map, error) {
	m, err := ebpf.LoadPinnedMap(path, opts)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open pinned map %s: %w", spec.Name, err)
	}
	if err := spec.Compatible(m); err != nil {
		m.Close()
		return nil, fmt.Errorf("pinned map %s: %w", path, err)
	}
	return m, nil
}

// attach attaches prog at the cgroup root, reusing the link pinned at
// pin (if pin is not "") by swapping its program atomically, so that
// enforcement never lapses across a restart of the node agent.
func attach(cgroupRoot string, rootID uint64, at ebpf.AttachType, prog *ebpf.Program, pin string) (link.Link, error) {
	if pin != "" {
		l, err := reusePinnedLink(pin, rootID, prog)
		if l != nil || err != nil {
			return l, err
		}
	}
	l, err := link.AttachCgroup(link.CgroupOptions{Path: cgroupRoot, Attach: at, Program: prog})
	if err != nil {
		return nil, fmt.Errorf("attach %v at %s: %w", at, cgroupRoot, err)
	}
	if pin == "" {
		return l, nil
	}
	if err := l.Pin(pin); err != nil {
		l.Close()
		return nil, fmt.Errorf("pin link %s: %w", pin, err)
	}
	return l, nil
}

// reusePinnedLink updates the link pinned at pin to run prog. It returns
// nil, nil if there is no such link, and removes one attached to another
// cgroup than rootID (the root moved).
func reusePinnedLink(pin string, rootID uint64, prog *ebpf.Program) (link.Link, error) {
	l, err := link.LoadPinnedLink(pin, nil)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open pinned link: %w", err)
	}
	info, err := l.Info()
	if err != nil || info.Cgroup() == nil || info.Cgroup().CgroupId != rootID {
		// Attached elsewhere (or unreadable): replace it.
		l.Unpin()
		l.Close()
		return nil, nil
	}
	if err := l.Update(prog); err != nil {
		l.Close()
		return nil, fmt.Errorf("update pinned link %s: %w", pin, err)
	}
	return l, nil
}

// cgroupID is the id of the cgroup v2 directory dir, the value
// bpf_get_current_cgroup_id returns for its tasks.
func cgroupID(dir string) (uint64, error) {
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, dir, 0)
	if err != nil {
		return 0, &os.PathError{Op: "name_to_handle_at", Path: dir, Err: err}
	}
	if len(h.Bytes()) != 8 {
		return 0, fmt.Errorf("cgroup id of %s: handle of %d bytes", dir, len(h.Bytes()))
	}
	return binary.NativeEndian.Uint64(h.Bytes()), nil
}

// ensureBPFFS makes sure dir is a directory on a bpffs, mounting one at
// mnt first if mnt is not a bpffs yet.
func ensureBPFFS(dir, mnt string) error {
	if !isBPFFS(mnt) && isUnder(dir, mnt) {
		if err := os.MkdirAll(mnt, 0o700); err != nil {
			return fmt.Errorf("bpffs mount point: %w", err)
		}
		if err := unix.Mount("bpf", mnt, "bpf", 0, "mode=0700"); err != nil {
			return &os.PathError{Op: "mount bpf", Path: mnt, Err: err}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pin directory: %w", err)
	}
	if !isBPFFS(dir) {
		return fmt.Errorf("pin directory %s is not on a bpffs", dir)
	}
	return nil
}

func isBPFFS(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.BPF_FS_MAGIC
}

func isUnder(dir, parent string) bool {
	rel, err := filepath.Rel(parent, dir)
	return err == nil && filepath.IsLocal(rel)
}
