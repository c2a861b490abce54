package disk

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// btrfs ioctls, from linux/btrfs.h (numbers computed for the generic _IOC
// layout used by amd64 and arm64).
const (
	iocSubvolCreate = 0x5000940e // _IOW(0x94, 14, struct btrfs_ioctl_vol_args)
	iocSnapDestroy  = 0x5000940f // _IOW(0x94, 15, struct btrfs_ioctl_vol_args)
	iocTreeSearch   = 0xd0009411 // _IOWR(0x94, 17, struct btrfs_ioctl_search_args)
	iocInoLookup    = 0xd0009412 // _IOWR(0x94, 18, struct btrfs_ioctl_ino_lookup_args)
	iocQuotaCtl     = 0xc0109428 // _IOWR(0x94, 40, struct btrfs_ioctl_quota_ctl_args)
	iocQgroupLimit  = 0x8030942b // _IOR(0x94, 43, struct btrfs_ioctl_qgroup_limit_args)

	quotaCtlEnable       = 1
	quotaCtlEnableSimple = 4

	qgroupLimitMaxRfer = 1 << 0

	firstFreeObjectid = 256 // inode number of every subvolume's root
	quotaTreeObjectid = 8
	qgroupInfoKey     = 242
)

// volArgs is struct btrfs_ioctl_vol_args.
type volArgs struct {
	fd   int64
	name [4088]byte
}

// quotaCtlArgs is struct btrfs_ioctl_quota_ctl_args.
type quotaCtlArgs struct {
	cmd    uint64
	status uint64
}

// qgroupLimitArgs is struct btrfs_ioctl_qgroup_limit_args.
type qgroupLimitArgs struct {
	qgroupid uint64
	flags    uint64
	maxRfer  uint64
	maxExcl  uint64
	rsvRfer  uint64
	rsvExcl  uint64
}

// inoLookupArgs is struct btrfs_ioctl_ino_lookup_args.
type inoLookupArgs struct {
	treeid   uint64
	objectid uint64
	name     [4080]byte
}

// searchKey is struct btrfs_ioctl_search_key.
type searchKey struct {
	treeID                   uint64
	minObjectid, maxObjectid uint64
	minOffset, maxOffset     uint64
	minTransid, maxTransid   uint64
	minType, maxType         uint32
	nrItems                  uint32
	_                        uint32
	_                        [4]uint64
}

// searchArgs is struct btrfs_ioctl_search_args.
type searchArgs struct {
	key searchKey
	buf [4096 - unsafe.Sizeof(searchKey{})]byte
}

// searchHeader is struct btrfs_ioctl_search_header.
type searchHeader struct {
	transid  uint64
	objectid uint64
	offset   uint64
	typ      uint32
	len      uint32
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	if errno != 0 {
		return errno
	}
	return nil
}

func nameArgs(name string) (*volArgs, error) {
	var a volArgs
	if len(name) >= len(a.name) {
		return nil, fmt.Errorf("name too long: %q", name)
	}
	copy(a.name[:], name)
	return &a, nil
}

// subvolCreate makes subvolume name in the directory dirfd.
func subvolCreate(dirfd int, name string) error {
	a, err := nameArgs(name)
	if err != nil {
		return err
	}
	if err := ioctl(dirfd, iocSubvolCreate, unsafe.Pointer(a)); err != nil {
		return fmt.Errorf("ioctl BTRFS_IOC_SUBVOL_CREATE %s: %w", name, err)
	}
	return nil
}

// subvolDestroy deletes subvolume name in the directory dirfd, whatever it
// holds. The kernel looks name up as one component of dirfd: it follows no
// symlink, and fails with EINVAL if name is not a subvolume.
func subvolDestroy(dirfd int, name string) error {
	a, err := nameArgs(name)
	if err != nil {
		return err
	}
	if err := ioctl(dirfd, iocSnapDestroy, unsafe.Pointer(a)); err != nil {
		return fmt.Errorf("ioctl BTRFS_IOC_SNAP_DESTROY %s: %w", name, err)
	}
	return nil
}

// quotaEnable turns qgroups on for the file system of fd: simple quotas
// when simple is set, else full accounting. Enabling twice is harmless.
func quotaEnable(fd int, simple bool) error {
	a := quotaCtlArgs{cmd: quotaCtlEnable}
	if simple {
		a.cmd = quotaCtlEnableSimple
	}
	if err := ioctl(fd, iocQuotaCtl, unsafe.Pointer(&a)); err != nil {
		return fmt.Errorf("ioctl BTRFS_IOC_QUOTA_CTL %d: %w", a.cmd, err)
	}
	return nil
}

// qgroupLimit limits the referenced bytes of subvolume id (0: no limit).
// fd must be outside that subvolume (the slivers' directory): the kernel
// charges the ioctl's own transaction to the subvolume of fd, and a
// sliver at its limit would otherwise refuse every change of its limit,
// even a raise, with EDQUOT.
func qgroupLimit(fd int, id uint64, limit int64) error {
	a := qgroupLimitArgs{qgroupid: id, flags: qgroupLimitMaxRfer, maxRfer: ^uint64(0)}
	if limit > 0 {
		a.maxRfer = uint64(limit)
	}
	if err := ioctl(fd, iocQgroupLimit, unsafe.Pointer(&a)); err != nil {
		return fmt.Errorf("ioctl BTRFS_IOC_QGROUP_LIMIT: %w", err)
	}
	return nil
}

// subvolID returns the id of the subvolume that fd is in.
func subvolID(fd int) (uint64, error) {
	a := inoLookupArgs{objectid: firstFreeObjectid}
	if err := ioctl(fd, iocInoLookup, unsafe.Pointer(&a)); err != nil {
		return 0, fmt.Errorf("ioctl BTRFS_IOC_INO_LOOKUP: %w", err)
	}
	return a.treeid, nil
}

// qgroupReferenced returns the referenced bytes of qgroup 0/id, as of the
// last commit, from the quota tree.
func qgroupReferenced(fd int, id uint64) (int64, error) {
	var a searchArgs
	a.key = searchKey{
		treeID:    quotaTreeObjectid,
		minOffset: id, maxOffset: id,
		maxTransid: ^uint64(0),
		minType:    qgroupInfoKey, maxType: qgroupInfoKey,
		nrItems: 1,
	}
	if err := ioctl(fd, iocTreeSearch, unsafe.Pointer(&a)); err != nil {
		return 0, fmt.Errorf("ioctl BTRFS_IOC_TREE_SEARCH: %w", err)
	}
	if a.key.nrItems == 0 {
		return 0, fmt.Errorf("no qgroup 0/%d", id)
	}
	h := (*searchHeader)(unsafe.Pointer(&a.buf[0]))
	item := a.buf[unsafe.Sizeof(*h):]
	if h.typ != qgroupInfoKey || h.offset != id || h.len < 16 {
		return 0, fmt.Errorf("unexpected quota tree item type %d offset %d", h.typ, h.offset)
	}
	// struct btrfs_qgroup_info_item: generation, rfer, ... (little endian).
	return int64(binary.LittleEndian.Uint64(item[8:16])), nil
}
