package lease

import (
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
)

// Bounds of a request, beyond which it is malformed.
const (
	// MaxBody is the largest request body the broker reads.
	MaxBody = 64 << 10
	// MaxLeaseSlots is the longest window, in slots.
	MaxLeaseSlots = 168
	// MaxAccountLeases bounds the leases of one account on the book,
	// cancelled and finished ones included until they are dropped: a
	// lease cancelled before it opens is refunded, so without it an
	// account could grow the book without end for the price of one.
	MaxAccountLeases = 256
	// MaxAheadSlots is how far ahead a window may start, in slots.
	MaxAheadSlots = 24 * 31
	// MaxLive is how many leases may be reserved or active at once.
	MaxLive = 1024
	// MaxScheduleSlots is the most slots one schedule call returns.
	MaxScheduleSlots = 1000

	maxKeys       = 16
	maxKeyLen     = 2048
	maxCPUShares  = 1 << 18
	minTokenLen   = 16
	maxTokenLen   = 128
	keepFinished  = 24 // slots a finished lease stays listed
	maxIDLen      = 64
	idBytes       = 8
	tokenBytes    = 16
	schemaVersion = 2
)

// checkSlice checks a slice name by Orbis's one rule (api.SliceName).
func checkSlice(name string) error {
	if _, err := api.ParseSliceName(name); err != nil {
		return errorf(ErrInvalid, "slice: %v", err)
	}
	return nil
}

func checkKeys(keys []string) error {
	if len(keys) == 0 {
		return errorf(ErrInvalid, "keys: none given (the sliver would be unreachable)")
	}
	if len(keys) > maxKeys {
		return errorf(ErrInvalid, "keys: %d keys (max %d)", len(keys), maxKeys)
	}
	for i, k := range keys {
		switch {
		case len(k) > maxKeyLen:
			return errorf(ErrInvalid, "keys[%d]: %d bytes (max %d)", i, len(k), maxKeyLen)
		case strings.ContainsAny(k, "\n\r\x00"):
			return errorf(ErrInvalid, "keys[%d]: must be one line", i)
		case len(strings.Fields(k)) < 2:
			return errorf(ErrInvalid, "keys[%d]: not an SSH public key (want \"TYPE BASE64 [COMMENT]\")", i)
		}
	}
	return nil
}

// window checks and completes a request's window against the slot length
// and now, and returns it as [start, end).
func window(req ReserveRequest, slot int64, now int64) (start, end int64, err error) {
	cur := now - now%slot
	start, end = req.Start, req.End
	if start == 0 {
		start = cur
	}
	switch {
	case start < 0 || end < 0 || req.Slots < 0:
		return 0, 0, errorf(ErrInvalid, "window: negative start, end or slots")
	case end != 0 && req.Slots != 0:
		return 0, 0, errorf(ErrInvalid, "window: give end or slots, not both")
	case end == 0 && req.Slots == 0:
		return 0, 0, errorf(ErrInvalid, "window: give end or slots")
	case req.Slots > MaxLeaseSlots:
		return 0, 0, errorf(ErrInvalid, "window: %d slots (max %d)", req.Slots, MaxLeaseSlots)
	case start%slot != 0:
		return 0, 0, errorf(ErrInvalid, "start: %s is not on a slot boundary (slots are %v)", stamp(start), dur(slot))
	case start < cur:
		return 0, 0, errorf(ErrInvalid, "start: %s is in the past (the current slot began at %s)", stamp(start), stamp(cur))
	case start > cur+MaxAheadSlots*slot:
		return 0, 0, errorf(ErrInvalid, "start: %s is more than %d slots ahead", stamp(start), MaxAheadSlots)
	}
	if end == 0 {
		end = start + req.Slots*slot
	}
	switch {
	case end%slot != 0:
		return 0, 0, errorf(ErrInvalid, "end: %s is not on a slot boundary (slots are %v)", stamp(end), dur(slot))
	case end <= start:
		return 0, 0, errorf(ErrInvalid, "end: %s is not after start %s", stamp(end), stamp(start))
	case (end-start)/slot > MaxLeaseSlots:
		return 0, 0, errorf(ErrInvalid, "window: %d slots (max %d)", (end-start)/slot, MaxLeaseSlots)
	}
	return start, end, nil
}

func checkShares(req ReserveRequest) (int64, error) {
	switch {
	case req.Whole && req.CPUShares != 0:
		return 0, errorf(ErrInvalid, "cpu_shares: give cpu_shares or whole, not both")
	case req.CPUShares < 0 || req.CPUShares > maxCPUShares:
		return 0, errorf(ErrInvalid, "cpu_shares: %d is out of range (1 to %d)", req.CPUShares, maxCPUShares)
	case req.CPUShares == 0:
		return 1, nil
	}
	return req.CPUShares, nil
}

func checkToken(tok string) error {
	if tok != "" && (len(tok) < minTokenLen || len(tok) > maxTokenLen) {
		return errorf(ErrInvalid, "token: %d characters (want %d to %d)", len(tok), minTokenLen, maxTokenLen)
	}
	return nil
}

// stamp formats Unix seconds for messages.
func stamp(t int64) string { return time.Unix(t, 0).UTC().Format(time.RFC3339) }

func dur(sec int64) time.Duration { return time.Duration(sec) * time.Second }
