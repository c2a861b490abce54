package sliver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// installFiles writes the slice's SSH keys (/root/.ssh/authorized_keys)
// and boot script (/etc/rc.vinit) into the sliver's writable layer, owned
// by the sliver's root. The layer belongs to the sliver, which may have
// planted symlinks anywhere in it: every access goes through an os.Root,
// which refuses to leave the layer, and the files are replaced, never
// written through.
func installFiles(upper string, s Spec) error {
	root, err := os.OpenRoot(upper)
	if err != nil {
		return fmt.Errorf("open sliver layer: %w", err)
	}
	defer root.Close()
	uid, gid := int(s.UIDBase), int(s.UIDBase)
	keys := strings.Join(s.Keys, "\n")
	if keys != "" {
		keys += "\n"
	}
	if err := ensureDir(root, "root", 0o700, uid, gid); err != nil {
		return err
	}
	if err := ensureDir(root, "root/.ssh", 0o700, uid, gid); err != nil {
		return err
	}
	if err := replaceFile(root, "root/.ssh/authorized_keys", []byte(keys), 0o600, uid, gid); err != nil {
		return err
	}
	if err := ensureDir(root, "etc", 0o755, uid, gid); err != nil {
		return err
	}
	if s.InitScript == "" {
		if err := root.Remove("etc/rc.vinit"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove boot script: %w", err)
		}
		return nil
	}
	return replaceFile(root, "etc/rc.vinit", []byte(s.InitScript), 0o755, uid, gid)
}

// ensureDir makes dir inside root unless something is there already; what
// the sliver put there is its own business, and os.Root keeps a symlink
// from leading outside.
func ensureDir(root *os.Root, dir string, mode os.FileMode, uid, gid int) error {
	err := root.Mkdir(dir, mode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("make %s in sliver: %w", dir, err)
	}
	return root.Lchown(dir, uid, gid)
}

// replaceFile writes a new file beside name and renames it over name, so a
// symlink or hard link the sliver planted at name is replaced, not written
// through.
func replaceFile(root *os.Root, name string, data []byte, mode os.FileMode, uid, gid int) error {
	tmp := name + ".orbis-new"
	root.Remove(tmp)
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("write %s in sliver: %w", name, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chown(uid, gid)
	}
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		root.Remove(tmp)
		return fmt.Errorf("write %s in sliver: %w", name, err)
	}
	return nil
}
