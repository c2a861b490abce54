package disk

// Space is how much room the slivers of a node have, and why the node
// must take no new sliver now, if it must not.
type Space struct {
	// Size and Free are the bytes of the slivers' storage, and what of
	// them slivers may still write.
	Size, Free int64
	// StateFree is what the state directory's file system has free.
	StateFree int64
	// Full says why the node must take no new sliver ("": it may): its
	// state disk is down to its reserve, its slivers' storage is full
	// and cannot grow, or a disk image is not backed by allocated space.
	Full string
}

// Sizes of the btrfs image: it starts at Options.ImageSize (default
// DefaultImageSize), allocated for real, never sparse, so that a full
// state disk can never lose a write btrfs acknowledged; it grows by a
// quarter (at least growMin) each time slivers leave less than an eighth
// (at least twice fullBelow) free, as long as the state disk keeps
// Options.Reserve (default DefaultReserve) free.
const (
	DefaultImageSize = 1 << 30
	DefaultReserve   = 1 << 30
	growMin          = 256 << 20
	// fullBelow is the free space of the slivers' storage under which
	// the node takes no new sliver.
	fullBelow = 64 << 20
)

func (o Options) reserve() int64 {
	if o.Reserve > 0 {
		return o.Reserve
	}
	return DefaultReserve
}
