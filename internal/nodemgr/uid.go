package nodemgr

import (
	"container/heap"
	"errors"
	"fmt"
)

// uidAllocator hands out host UID ranges, UIDRangeSize wide, lowest free
// first. A range stays taken while its sliver exists (across rebinds) and
// is freed only once the runtime has destroyed the sliver, so no range is
// handed out while files or processes of an earlier owner remain.
//
// Ranges another node on the machine holds (claims) are skipped, and
// tried again at the next alloc (see uidClaims).
type uidAllocator struct {
	base   uint32
	limit  uint32 // number of ranges
	used   map[uint32]bool
	next   uint32  // ranges at or above next are all free
	freed  intHeap // free ranges below next
	claims *uidClaims
}

func newUIDAllocator(base, limit uint32, claims *uidClaims) *uidAllocator {
	return &uidAllocator{base: base, limit: limit, used: map[uint32]bool{}, claims: claims}
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
	if err := a.claims.claim(uid); err != nil {
		return fmt.Errorf("%w: two nodes on one machine must never share host UIDs; stop the other, or give this node other ranges (--uid-base, --uid-ranges) and remove its slivers", err)
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

// alloc returns the first UID of the lowest free range that no other
// node on the machine holds.
func (a *uidAllocator) alloc() (uint32, error) {
	var held []uint32 // by another node: free for us again later
	defer func() {
		for _, k := range held {
			heap.Push(&a.freed, k)
		}
	}()
	for {
		k, ok := a.lowestFree()
		if !ok {
			return 0, refusedf("uid ranges: all %d in use (%d of them by other nodes on this machine)", a.limit, len(held))
		}
		uid := a.base + k*UIDRangeSize
		err := a.claims.claim(uid)
		if errors.Is(err, errUIDsHeld) {
			held = append(held, k)
			continue
		}
		if err != nil {
			heap.Push(&a.freed, k)
			return 0, err
		}
		a.used[k] = true
		return uid, nil
	}
}

// lowestFree takes the lowest range neither used nor tried.
func (a *uidAllocator) lowestFree() (uint32, bool) {
	for a.freed.Len() > 0 {
		if k := heap.Pop(&a.freed).(uint32); !a.used[k] {
			return k, true
		}
	}
	if a.next >= a.limit {
		return 0, false
	}
	a.next++
	return a.next - 1, true
}

// free returns the range starting at uid.
func (a *uidAllocator) free(uid uint32) {
	k := (uid - a.base) / UIDRangeSize
	if a.used[k] {
		delete(a.used, k)
		a.claims.release(uid)
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
