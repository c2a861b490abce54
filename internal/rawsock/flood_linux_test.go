package rawsock

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// childFlood is a sliver's program that speaks the protocol of
// docs/rawsock.md by hand, as another language would: it binds udp/5000,
// says "bound", reads nothing until a line comes on its standard input
// (the test floods the port meanwhile), then reads what was relayed and
// asks for the socket's counters.
func childFlood(sock string) error {
	c, err := net.Dial("unixpacket", sock)
	if err != nil {
		return err
	}
	defer c.Close()
	// MsgBind, seq 1, udp (17), port 5000.
	if _, err := c.Write([]byte{1, 0, 0, 0, 0, 0, 0, 1, 17, 0, 0x13, 0x88}); err != nil {
		return err
	}
	buf := make([]byte, 70000)
	n, err := c.Read(buf)
	if err != nil || n != 13 || buf[0] != 0x81 || buf[8] != 0 {
		return fmt.Errorf("bind answer %x: %v", buf[:n], err)
	}
	fmt.Println("bound")
	bufio.NewReader(os.Stdin).ReadString('\n')
	read := 0
	for {
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := c.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil || n < 8 || buf[0] != 0x82 {
			return fmt.Errorf("reading packets: %x %v", buf[:min(n, 8)], err)
		}
		read++
	}
	c.SetReadDeadline(time.Time{})
	// MsgStats, seq 2.
	if _, err := c.Write([]byte{3, 0, 0, 0, 0, 0, 0, 2}); err != nil {
		return err
	}
	n, err = c.Read(buf)
	if err != nil || n != 8+1+32 || buf[0] != 0x81 || binary.BigEndian.Uint32(buf[4:]) != 2 {
		return fmt.Errorf("stats answer %x: %v", buf[:n], err)
	}
	st := buf[9:]
	fmt.Printf("read=%d received=%d dropped=%d\n", read, binary.BigEndian.Uint64(st), binary.BigEndian.Uint64(st[8:]))
	return nil
}
