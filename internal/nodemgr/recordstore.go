package nodemgr

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
)

// records is the node manager's record store: every live rcap and sliver
// record, on disk (one file each, see store) and in memory, with the
// indexes built from them: which slice each rcap is bound to, which slice
// holds each host UID range, and each broker's pool. The bindings are the
// sliver records' (see rebindLocked), so they cannot drift from them. A change is written
// to disk first and made in memory only if the write succeeded, so what
// memory says was always on disk.
//
// The operations (Manager) read and change records only through its
// methods, which hold records.mu; they call them with Manager.mu held, so
// a record an operation looked up does not change under it (see Manager
// for the lock order).
type records struct {
	store *store
	uids  *uidAllocator // taken while a sliver record holds its range

	// mu guards the following.
	mu      sync.Mutex
	rcaps   map[rcapHash]*rcapRecord
	slivers map[string]*sliverRecord
	boundTo map[rcapHash]string // rcap -> slice of the sliver that names it and is not destroying
	byUID   map[uint32]string   // UID base -> slice of the sliver with that range
	pools   map[string]rcapHash // broker slice -> its pool rcap
}

func newRecords(st *store, uids *uidAllocator) *records {
	return &records{
		store:   st,
		uids:    uids,
		rcaps:   map[rcapHash]*rcapRecord{},
		slivers: map[string]*sliverRecord{},
		boundTo: map[rcapHash]string{},
		byUID:   map[uint32]string{},
		pools:   map[string]rcapHash{},
	}
}

// close releases the UID claims and the state directory.
func (rs *records) close() error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.uids.claims.close()
	return rs.store.close()
}

// rcap returns the live rcap h, or nil.
func (rs *records) rcap(h rcapHash) *rcapRecord {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.rcaps[h]
}

// sliver returns the sliver of slice name, or nil.
func (rs *records) sliver(name string) *sliverRecord {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.slivers[name]
}

// sliverRcap returns the sliver of slice name and the rcap it is bound
// to; either may be nil.
func (rs *records) sliverRcap(name string) (*sliverRecord, *rcapRecord) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	s := rs.slivers[name]
	if s == nil {
		return nil, nil
	}
	return s, rs.rcaps[s.Rcap]
}

// bindingOf returns the slice whose sliver is bound to rcap h: the
// sliver whose record names h and is not being destroyed, while h is
// live.
func (rs *records) bindingOf(h rcapHash) (string, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	name, ok := rs.boundTo[h]
	if !ok || rs.rcaps[h] == nil {
		return "", false
	}
	return name, true
}

// boundName is the slice whose sliver is bound to rcap h, or "".
func (rs *records) boundName(h rcapHash) string {
	name, _ := rs.bindingOf(h)
	return name
}

// poolOf returns the pool rcap of broker slice.
func (rs *records) poolOf(slice string) (rcapHash, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	h, ok := rs.pools[slice]
	return h, ok
}

// poolList returns every broker slice with its pool rcap.
func (rs *records) poolList() map[string]rcapHash {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return maps.Clone(rs.pools)
}

// sliceOfUID names the sliver whose UID range holds uid, or "".
func (rs *records) sliceOfUID(uid uint32) string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if uid < rs.uids.base {
		return ""
	}
	return rs.byUID[uid-(uid-rs.uids.base)%UIDRangeSize]
}

// sliverCount is the number of sliver records.
func (rs *records) sliverCount() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.slivers)
}

// rcapList returns every live rcap, in no order.
func (rs *records) rcapList() []*rcapRecord {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := make([]*rcapRecord, 0, len(rs.rcaps))
	for _, r := range rs.rcaps {
		out = append(out, r)
	}
	return out
}

// findRcap returns a live rcap for which match says yes, or nil. match
// must not call records.
func (rs *records) findRcap(match func(*rcapRecord) bool) *rcapRecord {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, r := range rs.rcaps {
		if match(r) {
			return r
		}
	}
	return nil
}

// countRcaps counts the live rcaps for which keep says yes. keep must not
// call records.
func (rs *records) countRcaps(keep func(*rcapRecord) bool) int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	n := 0
	for _, r := range rs.rcaps {
		if keep(r) {
			n++
		}
	}
	return n
}

// boundSliver is a sliver with the rcap it is bound to (nil: gone).
type boundSliver struct {
	s *sliverRecord
	r *rcapRecord
}

// sliverList returns every sliver with its rcap, in no order.
func (rs *records) sliverList() []boundSliver {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := make([]boundSliver, 0, len(rs.slivers))
	for _, s := range rs.slivers {
		out = append(out, boundSliver{s, rs.rcaps[s.Rcap]})
	}
	return out
}

// countSlivers counts the slivers for which keep, given the sliver and
// its rcap (nil: gone), says yes. keep must not call records.
func (rs *records) countSlivers(keep func(s *sliverRecord, r *rcapRecord) bool) int64 {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var n int64
	for _, s := range rs.slivers {
		if keep(s, rs.rcaps[s.Rcap]) {
			n++
		}
	}
	return n
}

// putRcap writes the new rcap r and adds it (a pool as its broker's).
func (rs *records) putRcap(r *rcapRecord) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := rs.store.put(kindRcap, r.Hash.String(), r); err != nil {
		return err
	}
	rs.rcaps[r.Hash] = r
	if r.PoolOf != "" {
		rs.pools[r.PoolOf] = r.Hash
	}
	return nil
}

// saveRcap writes n as the record of r, and changes r in memory only if
// the write succeeded.
func (rs *records) saveRcap(r *rcapRecord, n rcapRecord) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := rs.store.put(kindRcap, n.Hash.String(), &n); err != nil {
		return err
	}
	*r = n
	return nil
}

// writeRcap writes n as rcap n.Hash's record on disk only, leaving memory
// as it is: a change whose second half (deleting a child) must succeed
// before memory follows (see giveBack).
func (rs *records) writeRcap(n *rcapRecord) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.store.put(kindRcap, n.Hash.String(), n)
}

// written makes r n in memory, once writeRcap wrote n and the change's
// second half succeeded.
func (rs *records) written(r *rcapRecord, n rcapRecord) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	*r = n
}

// delRcap deletes rcap h's record and forgets it, and its pool entry. A
// missing record is no error.
func (rs *records) delRcap(h rcapHash) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := rs.store.del(kindRcap, h.String()); err != nil {
		return err
	}
	if r := rs.rcaps[h]; r != nil && r.PoolOf != "" && rs.pools[r.PoolOf] == h {
		delete(rs.pools, r.PoolOf)
	}
	delete(rs.rcaps, h)
	return nil
}

// newSliver takes a UID range and writes the record of s, a new sliver
// bound to s.Rcap, with s.UIDBase set to the range.
func (rs *records) newSliver(s *sliverRecord) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	uid, err := rs.uids.alloc()
	if err != nil {
		return err
	}
	s.UIDBase = uid
	if err := rs.store.put(kindSliver, s.Name, s); err != nil {
		rs.uids.free(uid)
		return err
	}
	rs.slivers[s.Name] = s
	rs.byUID[uid] = s.Name
	rs.rebindLocked(nil, s)
	return nil
}

// saveSliver writes n as the record of s's sliver, and changes s in
// memory only if the write succeeded.
func (rs *records) saveSliver(s *sliverRecord, n sliverRecord) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := rs.store.put(kindSliver, n.Name, &n); err != nil {
		return err
	}
	old := *s
	*s = n
	rs.rebindLocked(&old, s)
	return nil
}

// delSliver deletes the record of s, whose sliver the runtime destroyed,
// and frees its UID range.
func (rs *records) delSliver(s *sliverRecord) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := rs.store.del(kindSliver, s.Name); err != nil {
		return err
	}
	delete(rs.slivers, s.Name)
	delete(rs.byUID, s.UIDBase)
	rs.rebindLocked(s, nil)
	rs.uids.free(s.UIDBase)
	return nil
}

// rebindLocked moves a sliver's binding from its record old to its
// record now (nil: none), as a record in memory changes: the one place
// the bindings change.
func (rs *records) rebindLocked(old, now *sliverRecord) {
	if old != nil && rs.boundTo[old.Rcap] == old.Name {
		delete(rs.boundTo, old.Rcap)
	}
	if now != nil && now.State != sliverDestroying {
		rs.boundTo[now.Rcap] = now.Name
	}
}

// putSplit writes the intent of a split.
func (rs *records) putSplit(in *splitIntent) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.store.put(kindSplit, in.Child.String(), in)
}

// delSplit deletes the intent of the split that made child.
func (rs *records) delSplit(child rcapHash) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.store.del(kindSplit, child.String())
}

// splits returns the intents of splits a crash interrupted.
func (rs *records) splits() ([]splitIntent, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var intents []splitIntent
	err := rs.store.each(kindSplit, func(_ string, data []byte) error {
		var in splitIntent
		if err := json.Unmarshal(data, &in); err != nil {
			return err
		}
		intents = append(intents, in)
		return nil
	})
	return intents, err
}

// load reads every rcap record into memory, giving records older than
// owners and makers theirs, and finishes the releases a crash interrupted
// (see giveBack); then it reads every sliver record and takes its UID
// range.
func (rs *records) load() ([]string, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	err := rs.store.each(kindRcap, func(key string, data []byte) error {
		var r rcapRecord
		if err := json.Unmarshal(data, &r); err != nil {
			return err
		}
		if r.Hash.String() != key {
			return fmt.Errorf("hash %s does not match the file name", r.Hash)
		}
		if r.Owner == "" || r.Account == "" || r.Maker == "" {
			// Written before rcaps had owners (central's) or makers (its
			// owner's).
			r.Owner, r.Account = cmp.Or(r.Owner, principalCentral), cmp.Or(r.Account, principalCentral)
			r.Maker = cmp.Or(r.Maker, r.Owner)
			if err := rs.store.put(kindRcap, key, &r); err != nil {
				return err
			}
		}
		rs.rcaps[r.Hash] = &r
		return nil
	})
	if err != nil {
		return nil, err
	}
	finished, err := rs.finishReturnsLocked()
	if err != nil {
		return nil, err
	}
	return finished, rs.store.each(kindSliver, func(key string, data []byte) error {
		var s sliverRecord
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		if s.Name != key || checkSliceName(s.Name) != nil {
			return fmt.Errorf("bad sliver name %q", s.Name)
		}
		if err := rs.uids.take(s.UIDBase); err != nil {
			return err
		}
		rs.slivers[s.Name] = &s
		rs.byUID[s.UIDBase] = s.Name
		rs.rebindLocked(nil, &s)
		return nil
	})
}

// finishReturnsLocked deletes the records of children whose release a
// crash interrupted after their parent took their guarantees back (see
// giveBack), and returns "child parent" for each, to log.
func (rs *records) finishReturnsLocked() ([]string, error) {
	var done []string
	for _, p := range rs.rcaps {
		if p.Absorbed == "" {
			continue
		}
		h, err := parseHash(p.Absorbed)
		if err != nil || rs.rcaps[h] == nil {
			continue
		}
		if err := rs.store.del(kindRcap, h.String()); err != nil {
			return nil, err
		}
		delete(rs.rcaps, h)
		done = append(done, h.id()+" "+p.Hash.id())
	}
	return done, nil
}

// index rebuilds the pools from the records.
func (rs *records) index() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.pools = map[string]rcapHash{}
	for h, r := range rs.rcaps {
		if r.PoolOf != "" {
			rs.pools[r.PoolOf] = h
		}
	}
}
