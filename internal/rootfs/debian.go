package rootfs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
)

// buildDebian runs debootstrap --variant=minbase into root, through the apt
// mirror this host already uses (no other network). debootstrap runs in a
// mount namespace of its own, so the /proc and /sys it mounts inside the
// target vanish with it even if it is killed.
func (s *Store) buildDebian(ctx context.Context, root string, progress io.Writer) error {
	mirror := s.opts.Mirror
	if mirror == "" {
		var err error
		if mirror, err = AptMirror(s.opts.AptDir); err != nil {
			return err
		}
	}
	bin, err := exec.LookPath("debootstrap")
	if err != nil {
		return fmt.Errorf("find debootstrap (apt-get install debootstrap): %w", err)
	}
	args := debootstrapArgs(s.opts.Suite, root, mirror, s.opts.Include)
	fmt.Fprintf(progress, "debian: debootstrap %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = isolatedAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	sum := newSummary(progress)
	cmd.Stdout, cmd.Stderr = sum, sum
	err = cmd.Run()
	sum.Close()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("debootstrap: %w (last lines: %s)", err, sum.Tail())
	}
	// debootstrap leaves apt's downloaded indexes; they are large and stale
	// by the time a sliver would use them.
	lists, _ := filepath.Glob(filepath.Join(root, "var/lib/apt/lists/*_*"))
	for _, f := range lists {
		os.Remove(f)
	}
	return nil
}

// debootstrapArgs is debootstrap's command line for a minimal Debian.
func debootstrapArgs(suite, root, mirror string, include []string) []string {
	args := []string{"--variant=minbase"}
	if len(include) > 0 {
		args = append(args, "--include="+strings.Join(include, ","))
	}
	return append(args, suite, root, mirror)
}

// AptMirror returns the Debian mirror apt uses on this host: the first
// non-security "deb" source of aptDir's sources.list, sources.list.d/*.list
// or sources.list.d/*.sources (deb822) whose URI ends in /debian.
func AptMirror(aptDir string) (string, error) {
	files := []string{filepath.Join(aptDir, "sources.list")}
	more, _ := filepath.Glob(filepath.Join(aptDir, "sources.list.d", "*"))
	sort.Strings(more)
	files = append(files, more...)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var uris []string
		switch {
		case strings.HasSuffix(f, ".sources"):
			uris = deb822URIs(string(b))
		case strings.HasSuffix(f, ".list") || filepath.Base(f) == "sources.list":
			uris = oneLineURIs(string(b))
		}
		for _, u := range uris {
			if strings.HasSuffix(strings.TrimSuffix(u, "/"), "/debian") {
				return strings.TrimSuffix(u, "/"), nil
			}
		}
	}
	return "", errors.New("no Debian mirror in apt's sources: set one explicitly")
}

// oneLineURIs reads "deb [opts] URI suite components" lines.
func oneLineURIs(text string) []string {
	var uris []string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		i := 1
		if strings.HasPrefix(f[i], "[") {
			for i < len(f) && !strings.HasSuffix(f[i], "]") {
				i++
			}
			i++
		}
		if i < len(f) {
			uris = append(uris, f[i])
		}
	}
	return uris
}

// deb822URIs reads the URIs of "Types: deb" stanzas.
func deb822URIs(text string) []string {
	var uris []string
	for _, stanza := range strings.Split(text, "\n\n") {
		fields := map[string]string{}
		for _, line := range strings.Split(stanza, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, " ") {
				fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
		if !strings.Contains(" "+fields["types"]+" ", " deb ") || fields["enabled"] == "no" {
			continue
		}
		uris = append(uris, strings.Fields(fields["uris"])...)
	}
	return uris
}

// summary condenses debootstrap's output: a run of per-package lines
// ("I: Retrieving libc6 2.41", "I: Validating libc6 2.41", "I: Unpacking
// tar...") becomes one line of counts per verb, with a "so far" line every
// 50 packages, so a build reports dozens of lines, not hundreds. Other lines
// pass through.
type summary struct {
	w      io.Writer
	pw     *io.PipeWriter
	done   chan struct{}
	verbs  []string       // verbs of the current run, in order
	counts map[string]int // package lines per verb in the current run
	first  string         // the current run's first line
	tail   []string       // the last few lines, for error messages
}

func newSummary(w io.Writer) *summary {
	pr, pw := io.Pipe()
	s := &summary{w: w, pw: pw, done: make(chan struct{}), counts: map[string]int{}}
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.line(sc.Text())
		}
		s.flush()
		io.Copy(io.Discard, pr)
	}()
	return s
}

func (s *summary) Write(p []byte) (int, error) { return s.pw.Write(p) }

// Close flushes the summary; call it once the command has exited.
func (s *summary) Close() {
	s.pw.Close()
	<-s.done
}

// Tail returns the last lines seen, joined; valid after Close.
func (s *summary) Tail() string { return strings.Join(s.tail, " | ") }

func (s *summary) line(l string) {
	if s.tail = append(s.tail, l); len(s.tail) > 3 {
		s.tail = s.tail[1:]
	}
	verb, ok := packageLine(l)
	if !ok {
		s.flush()
		fmt.Fprintln(s.w, l)
		return
	}
	if len(s.verbs) == 0 {
		s.first = l
	}
	if s.counts[verb] == 0 {
		s.verbs = append(s.verbs, verb)
	}
	if s.counts[verb]++; s.counts[verb]%50 == 0 {
		fmt.Fprintf(s.w, "I: %s ... %d so far\n", verb, s.counts[verb])
	}
}

// packageLine reports whether l is debootstrap's line about one package
// ("I: Retrieving tar 1.35", "I: Unpacking tar..."), and its verb.
func packageLine(l string) (verb string, ok bool) {
	rest, ok := strings.CutPrefix(l, "I: ")
	if !ok {
		return "", false
	}
	f := strings.Fields(rest)
	switch {
	case len(f) < 2:
		return "", false
	case !slices.Contains([]string{"Retrieving", "Validating", "Extracting", "Unpacking", "Configuring"}, f[0]):
		return "", false
	case strings.HasSuffix(rest, "..."):
		return f[0], len(f) == 2 // "Unpacking tar...", not "Unpacking the base system..."
	}
	return f[0], len(f) <= 3
}

func (s *summary) flush() {
	switch {
	case len(s.verbs) == 0:
		return
	case len(s.verbs) == 1 && s.counts[s.verbs[0]] == 1:
		fmt.Fprintln(s.w, s.first) // a lone line, as is
		s.verbs, s.counts = nil, map[string]int{}
		return
	}
	parts := make([]string, len(s.verbs))
	for i, v := range s.verbs {
		parts[i] = fmt.Sprintf("%s %d", v, s.counts[v])
	}
	fmt.Fprintf(s.w, "I: %s packages\n", strings.Join(parts, ", "))
	s.verbs, s.counts = nil, map[string]int{}
}
