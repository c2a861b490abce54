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
	"sort"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"
)

// The action log is two bounded logs under the node's state directory,
// one JSON Action a line, root's alone (mode 0600 in a 0700 directory).
//
// ActionsFile keeps the consequential actions, the ones that changed the
// node: kills that sent their signal and bandwidth caps that were set.
// Every one is written, and nothing else is, and each is kept for
// Config.ActionsRetention whatever comes after it: when the file passes
// MaxActionsBytes it becomes a generation of its own, name+"."+time, and
// a generation is deleted once its last action is older than the
// retention. What it can hold is bounded by the rate: an admin slice may
// make at most Config.MaxActionsPerMinute of them (further ones are
// refused, 429, and counted in CallsFile); root is not limited.
//
// CallsFile, when it passes MaxActionsBytes, becomes its name+".1"
// (replacing the older one), so it never holds more than twice that.
//
// CallsFile keeps everything else: read-only calls (ps, bwcap shown, a
// watch's start and end), refusals and failures. Those a caller can make
// without end, so each caller (its slice, or its host UID if in none) has
// at most one line per op every CallLogEvery; the calls in between are
// counted, and the count is written as a line of its own (Action.Count)
// once the interval is over.
const (
	ActionsFile = "admin/actions.log"
	CallsFile   = "admin/calls.log"
)

// MaxActionsBytes is the size at which each log is rotated.
const MaxActionsBytes = 1 << 20

// Defaults of Config.ActionsRetention and Config.MaxActionsPerMinute: an
// admin slice at its full rate fills about 11 MB of ActionsFile a day.
const (
	DefaultActionsRetention    = 14 * 24 * time.Hour
	DefaultMaxActionsPerMinute = 30
)

// CallLogEvery is how often, at most, one caller's calls of one op are
// written to CallsFile (and to the node's log).
const CallLogEvery = 10 * time.Second

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
	// Count, when more than 1, is how many calls of this caller and op
	// the line stands for: calls not written one by one (CallLogEvery),
	// the last of which it shows.
	Count int `json:"count,omitempty"`
}

// actionLog appends Actions to a file, rotating it.
type actionLog struct {
	path string
	max  int64
	// keep, if positive, keeps every generation for that long (named
	// path+"."+time); else one generation is kept, as path+".1".
	keep time.Duration

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
		if err := os.Rename(l.path, l.generation(time.Now())); err != nil {
			return fmt.Errorf("rotate action log: %w", err)
		}
		l.prune(time.Now())
		if err := l.openLocked(); err != nil {
			return err
		}
	}
	_, err = l.f.Write(append(line, '\n'))
	return err
}

// generation is the name the full file takes at rotation.
func (l *actionLog) generation(now time.Time) string {
	if l.keep <= 0 {
		return l.path + ".1"
	}
	return l.path + "." + now.UTC().Format(generationTime)
}

// generationTime names generations so that they sort by time.
const generationTime = "20060102T150405.000000000"

// prune deletes the generations whose last write is older than l.keep.
func (l *actionLog) prune(now time.Time) {
	if l.keep <= 0 {
		return
	}
	gens, _ := filepath.Glob(l.path + ".2*")
	for _, g := range gens {
		if fi, err := os.Stat(g); err == nil && now.Sub(fi.ModTime()) > l.keep {
			os.Remove(g)
		}
	}
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

// ReadActions returns the actions and calls logged under stateDir,
// oldest first.
func ReadActions(stateDir string) ([]Action, error) {
	var out []Action
	gens, _ := filepath.Glob(filepath.Join(stateDir, ActionsFile+".2*"))
	sort.Strings(gens)
	for _, p := range []string{ActionsFile + ".1", ActionsFile, CallsFile + ".1", CallsFile} {
		gens = append(gens, filepath.Join(stateDir, p))
	}
	for _, p := range gens {
		acts, err := readActionFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, acts...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

func readActionFile(path string) ([]Action, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read action log: %w", err)
	}
	defer f.Close()
	var out []Action
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var a Action
		if json.Unmarshal(sc.Bytes(), &a) == nil {
			out = append(out, a)
		}
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
			cell(slice), uid, pid, cell(a.Op), cell(detail(a)), cell(a.Result))
	}
	return tw.Flush()
}

// detail is a's note, with how many calls it stands for.
func detail(a Action) string {
	if a.Count > 1 {
		return fmt.Sprintf("%s (%d calls like this one, not logged one by one)", a.Note, a.Count)
	}
	return a.Note
}

// cell is s as one cell of the table: no control character (a line, a
// tab, an escape sequence) from a log written by an older node, or
// edited, gets through.
func cell(s string) string { return printable(s, len(s)) }
