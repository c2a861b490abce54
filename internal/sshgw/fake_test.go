//go:build linux

package sshgw

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"github.com/orbisproject/orbis/internal/sandbox"
)

// fakeSlivers runs commands on the host, as the test's user, so the
// gateway's protocol and limits can be tested without root.
type fakeSlivers struct {
	// mu guards the following.
	mu   sync.Mutex
	keys map[string][]string // slice -> authorized_keys lines
}

func (f *fakeSlivers) AuthorizedKeys(name string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[name]
	if !ok {
		return nil, fmt.Errorf("sliver %s: no such sliver", name)
	}
	return k, nil
}

func (f *fakeSlivers) Exec(ctx context.Context, name string, cmd sandbox.Cmd) (Process, error) {
	c := exec.Command(cmd.Args[0], cmd.Args[1:]...)
	c.Env = cmd.Env
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var master *os.File
	if cmd.Terminal != nil {
		m, slave, err := openPTY()
		if err != nil {
			return nil, err
		}
		defer slave.Close()
		w := cmd.Terminal
		setWinsize(m, winsize{Rows: uint32(w.Rows), Cols: uint32(w.Cols)})
		master = m
		c.Stdin, c.Stdout, c.Stderr = slave, slave, slave
		c.SysProcAttr.Setctty = true
	} else {
		c.Stdin, c.Stdout, c.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	p := &fakeProc{cmd: c, done: make(chan struct{}), master: master}
	go func() {
		p.err = c.Wait()
		close(p.done)
	}()
	return p, nil
}

type fakeProc struct {
	cmd    *exec.Cmd
	done   chan struct{}
	err    error
	master *os.File
}

func (p *fakeProc) Terminal() *os.File { return p.master }

func (p *fakeProc) Wait() (int, error) {
	<-p.done
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ws.ExitStatus(), nil
	}
	if p.err != nil {
		return -1, p.err
	}
	return 0, nil
}

func (p *fakeProc) SignalGroup(sig syscall.Signal) error {
	select {
	case <-p.done:
		return errors.New("exited")
	default:
	}
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}
