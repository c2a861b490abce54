package nodemgr

import (
	"container/heap"
	"fmt"
)

// uidAllocator hands out host UID ranges, UIDRangeSize wide, lowest free
// first. A range stays taken while its sliver exists (across rebinds) and
// is freed only once the runtime has destroyed the sliver, so no range is
// handed out while files or processes of an earlier owner remain.
type uidAllocator struct {
	base  uint32
	limit uint32 // number of ranges
	used  map[uint32]bool
	next  uint32  // ranges at or above next are all free
	freed intHeap // free ranges below next
}

func newUIDAllocator(base, limit uint32) *uidAllocator {
	return &uidAllocator{base: base, limit: limit, used: map[uint32]bool{}}
}

// take marks the range starting at uid used, as read from a record.
func (a *uidAllocator) take(uid uint32) error {
	if uid < a.base || (uid-a.base)%UIDRangeSize != 0 || (uid-a.base)/UIDRangeSize >= a.limit {
		return fmt.Errorf("uid base %d is not a range of this node (base %d, %d ranges)", uid, a.base, a.limit)
	}
	k := (uid - a.base) / UIDRangeSize
	if a.used[k] {
		return fmt.Errorf("uid base %d is used twice", uid)
	}
	a.used[k] = true
	for ; a.next < k; a.next++ {
		if !a.used[a.next] {
			heap.Push(&a.freed, a.next)
		}
	}
	if a.next == k {
		a.next++
	}
	return nil
}

// alloc returns the first UID of the lowest free range.
func (a *uidAllocator) alloc() (uint32, error) {
	for a.freed.Len() > 0 {
		k := heap.Pop(&a.freed).(uint32)
		if !a.used[k] {
			a.used[k] = true
			return a.base + k*UIDRangeSize, nil
		}
	}
	if a.next >= a.limit {
		return 0, refusedf("uid ranges: all %d in use", a.limit)
	}
	k := a.next
	a.next++
	a.used[k] = true
	return a.base + k*UIDRangeSize, nil
}

// free returns the range starting at uid.
func (a *uidAllocator) free(uid uint32) {
	k := (uid - a.base) / UIDRangeSize
	if a.used[k] {
		delete(a.used, k)
		heap.Push(&a.freed, k)
	}
}

type intHeap []uint32

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(uint32)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
