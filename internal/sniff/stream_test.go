package sniff

import (
	"context"
	"testing"
	"time"
)

// TestSlowSubscriber: a subscriber that does not read loses packets past
// its buffer and counts them, while a fast one gets every packet and
// Publish never blocks.
func TestSlowSubscriber(t *testing.T) {
	s := NewStream()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow, slowDropped := s.Subscribe(ctx, 4)
	fast, fastDropped := s.Subscribe(ctx, 16)
	got := make(chan int)
	go func() {
		n := 0
		for range fast {
			n++
		}
		got <- n
	}()
	const sent = 1000
	done := make(chan struct{})
	go func() {
		for i := range sent {
			s.Publish(Packet{Len: i})
			if i%8 == 0 {
				time.Sleep(time.Millisecond) // let the fast reader keep up
			}
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Publish blocked on a subscriber that does not read")
	}
	cancel()
	if n := <-got; n+int(fastDropped()) != sent || fastDropped() > sent/10 {
		t.Errorf("fast subscriber: %d received, %d dropped of %d", n, fastDropped(), sent)
	}
	n := 0
	for range slow {
		n++
	}
	if n != 4 || slowDropped() != sent-4 {
		t.Errorf("slow subscriber: %d buffered, %d dropped of %d; want 4 and %d", n, slowDropped(), sent, sent-4)
	}
}

func TestParse(t *testing.T) {
	syn := []byte{0x45, 0, 0, 60, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
		0x13, 0x88, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0xa0, 0x02, 0xff, 0xff}
	var p Packet
	if !parse(syn, &p) || p.Src.String() != "10.0.0.1" || p.Dst.String() != "10.0.0.2" || p.Proto != 6 ||
		p.SrcPort != 5000 || p.DstPort != 80 || p.Len != 60 || !p.IsConnect() {
		t.Errorf("parse SYN: %+v", p)
	}
	if parse([]byte{0x45, 0}, &p) {
		t.Error("parse accepted a truncated header")
	}
}
