package admin

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"
)

// ActionsFile is the action log under the node's state directory: one
// JSON Action a line, root's alone (mode 0600 in a 0700 directory). When
// it passes MaxActionsBytes it becomes ActionsFile+".1" (replacing the
// older one), so the log never holds more than twice that.
const ActionsFile = "admin/actions.log"

// MaxActionsBytes is the size at which the action log is rotated.
const MaxActionsBytes = 1 << 20

// maxNote bounds an action's note and result: a caller chooses parts of
// both (a filter, a signal, a rate), as it does the command lines of its
// processes, which printable also cleans.
const maxNote = 512

// Action is one call to the admin service, as the action log keeps it.
type Action struct {
	Time time.Time `json:"time"`
	// Slice is the caller's slice; "" for the host's root.
	Slice string `json:"slice,omitempty"`
	// UID is the caller's UID inside its sliver (-1: unknown); HostUID
	// the same on the host.
	UID     int    `json:"uid"`
	HostUID uint32 `json:"host_uid"`
	// PID is the caller's PID on the host; SliverPID inside its sliver.
	PID       int    `json:"pid"`
	SliverPID int    `json:"sliver_pid,omitempty"`
	Op        string `json:"op"`
	Note      string `json:"note,omitempty"`
	// Result is "ok", or why the call failed or was refused.
	Result string `json:"result"`
}

// actionLog appends Actions to a file, rotating it.
type actionLog struct {
	path string
	max  int64

	// mu guards the following.
	mu sync.Mutex
	f  *os.File
}

func newActionLog(path string) *actionLog { return &actionLog{path: path, max: MaxActionsBytes} }

// append writes a, rotating the file first when it is full.
func (l *actionLog) append(a Action) error {
	line, err := json.Marshal(a)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.openLocked(); err != nil {
		return err
	}
	if fi, err := l.f.Stat(); err == nil && fi.Size()+int64(len(line)) >= l.max {
		l.f.Close()
		l.f = nil
		if err := os.Rename(l.path, l.path+".1"); err != nil {
			return fmt.Errorf("rotate action log: %w", err)
		}
		if err := l.openLocked(); err != nil {
			return err
		}
	}
	_, err = l.f.Write(append(line, '\n'))
	return err
}

func (l *actionLog) openLocked() error {
	if l.f != nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
		return fmt.Errorf("action log: %w", err)
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("action log: %w", err)
	}
	l.f = f
	return nil
}

// record logs one call in the node's log and the action log.
func (s *Service) record(c Caller, op, note string, err error) {
	if c.PID != 0 && c.SliverPID == 0 {
		c.SliverPID = sliverPID(s.cfg.ProcRoot, c.PID)
	}
	a := Action{Time: time.Now(), Slice: c.Slice, UID: c.UID, HostUID: c.HostUID, PID: c.PID,
		SliverPID: c.SliverPID, Op: op, Note: printable(note, maxNote), Result: "ok"}
	if err != nil {
		a.Result = printable(err.Error(), maxNote)
	}
	s.cfg.Log.Info("admin action", "slice", a.Slice, "uid", a.UID, "host_uid", a.HostUID, "pid", a.PID,
		"sliver_pid", a.SliverPID, "op", op, "note", note, "result", a.Result)
	if err := s.actions.append(a); err != nil {
		s.cfg.Log.Error("admin action log", "err", err)
	}
}

// ReadActions returns the action log under stateDir, oldest first.
func ReadActions(stateDir string) ([]Action, error) {
	var out []Action
	for _, p := range []string{ActionsFile + ".1", ActionsFile} {
		f, err := os.Open(filepath.Join(stateDir, p))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read action log: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var a Action
			if json.Unmarshal(sc.Bytes(), &a) == nil {
				out = append(out, a)
			}
		}
		f.Close()
	}
	return out, nil
}

// WriteActions prints actions as an aligned table. PID is the caller's
// on the host, then inside its sliver.
func WriteActions(w io.Writer, actions []Action) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSLICE\tUID\tPID\tOP\tDETAIL\tRESULT")
	for _, a := range actions {
		slice, uid := a.Slice, strconv.Itoa(a.UID)
		if slice == "" {
			slice = "(host)"
		}
		pid := strconv.Itoa(a.PID)
		if a.SliverPID != 0 && a.SliverPID != a.PID {
			pid += "/" + strconv.Itoa(a.SliverPID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Time.Local().Format("2006-01-02 15:04:05"),
			cell(slice), uid, pid, cell(a.Op), cell(a.Note), cell(a.Result))
	}
	return tw.Flush()
}

// cell is s as one cell of the table: no control character (a line, a
// tab, an escape sequence) from a log written by an older node, or
// edited, gets through.
func cell(s string) string { return printable(s, len(s)) }
