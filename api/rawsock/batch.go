package rawsock

import (
	"encoding/binary"
	"fmt"
)

// Version is the highest protocol version this package speaks. Version 1
// is the synchronous protocol (every request answered by one result);
// version 2, asked for with MsgHello, adds MsgSendBatch and MsgAck: many
// packets in one message, sent without waiting for their answers.
const Version = 2

// Messages of protocol version 2.
const (
	MsgHello     uint8 = 5    // body: version u16, the highest the client speaks
	MsgSendBatch uint8 = 6    // body: count u16, 0 u16, count entries; seq is the first entry's
	MsgAck       uint8 = 0x83 // no body: every batch up to the one ending at seq is handled
)

// batchHeaderLen is the size of a batch body's header (count u16, 0 u16)
// and entryHeaderLen that of each entry's (flags u8, 0 u8, length u16).
const (
	batchHeaderLen = 4
	entryHeaderLen = 4
)

// MaxBatchBody bounds the body of a MsgSendBatch: one message.
const MaxBatchBody = MaxMessage - HeaderLen

// HelloBody encodes a hello request's body, or its result's payload.
func HelloBody(version uint16) []byte {
	return binary.BigEndian.AppendUint16(nil, version)
}

// ParseHello decodes a hello request's body or its result's payload.
func ParseHello(body []byte) (uint16, error) {
	if len(body) != 2 {
		return 0, fmt.Errorf("hello body of %d bytes, want 2", len(body))
	}
	return binary.BigEndian.Uint16(body), nil
}

// BatchEntry is one packet of a MsgSendBatch: Flags and Body as those of
// a MsgSend (FlagHdrIncl and a whole IP packet, or a SendTo header and a
// segment).
type BatchEntry struct {
	Flags uint8
	Body  []byte
}

// EntryLen is how many bytes an entry with a body of n bytes takes in a
// batch.
func EntryLen(n int) int { return entryHeaderLen + n }

// AppendBatchHeader appends a batch body's header with room for its
// count, which SetBatchCount fills once the entries are appended.
func AppendBatchHeader(b []byte) []byte { return append(b, 0, 0, 0, 0) }

// SetBatchCount writes count into the batch body header that starts
// body.
func SetBatchCount(body []byte, count uint16) {
	binary.BigEndian.PutUint16(body, count)
}

// AppendBatchEntry appends one entry to a batch body; body is at most
// 65535 bytes.
func AppendBatchEntry(b []byte, flags uint8, body []byte) []byte {
	b = append(b, flags, 0, byte(len(body)>>8), byte(len(body)))
	return append(b, body...)
}

// ParseBatchCount returns the number of entries a batch body announces
// (0 when it is too short to say).
func ParseBatchCount(body []byte) int {
	if len(body) < batchHeaderLen {
		return 0
	}
	return int(binary.BigEndian.Uint16(body))
}

// ParseBatch decodes a batch body into dst (reused; the entries' bodies
// alias body). It refuses a batch without entries, an entry with unknown
// flags or running past the body, and bytes after the last entry.
func ParseBatch(dst []BatchEntry, body []byte) ([]BatchEntry, error) {
	dst = dst[:0]
	if len(body) < batchHeaderLen || body[2] != 0 || body[3] != 0 {
		return dst, fmt.Errorf("batch header of %d bytes is malformed", min(len(body), batchHeaderLen))
	}
	count := int(binary.BigEndian.Uint16(body))
	if count == 0 {
		return dst, fmt.Errorf("batch without entries")
	}
	rest := body[batchHeaderLen:]
	for i := range count {
		if len(rest) < entryHeaderLen {
			return dst[:0], fmt.Errorf("entry %d of %d: past the end of the batch", i, count)
		}
		flags, n := rest[0], int(binary.BigEndian.Uint16(rest[2:]))
		switch {
		case flags&^FlagHdrIncl != 0 || rest[1] != 0:
			return dst[:0], fmt.Errorf("entry %d of %d: unknown flags %#x", i, count, flags)
		case len(rest) < entryHeaderLen+n:
			return dst[:0], fmt.Errorf("entry %d of %d: %d bytes past the end of the batch", i, count, entryHeaderLen+n-len(rest))
		}
		dst = append(dst, BatchEntry{Flags: flags, Body: rest[entryHeaderLen : entryHeaderLen+n]})
		rest = rest[entryHeaderLen+n:]
	}
	if len(rest) != 0 {
		return dst[:0], fmt.Errorf("%d bytes after the last of %d entries", len(rest), count)
	}
	return dst, nil
}
