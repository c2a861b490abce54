package nodemgr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/format"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/reexec"
)

// docPath is the node manager's interface document, which these tests keep
// true to the code.
const docPath = "../../docs/nodemanager.md"

// docBlock is one fenced block of the document.
type docBlock struct {
	line  int      // of the opening fence
	words []string // the info string: language, then labels
	body  string
}

func (b docBlock) lang() string {
	if len(b.words) == 0 {
		return ""
	}
	return b.words[0]
}

// readDoc returns the fenced blocks of the document, in order.
func readDoc(t *testing.T) []docBlock {
	t.Helper()
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	var out []docBlock
	var cur *docBlock
	var body []string
	for i, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "```") {
			if cur != nil {
				body = append(body, line)
			}
			continue
		}
		if cur != nil {
			cur.body = strings.Join(body, "\n")
			out = append(out, *cur)
			cur, body = nil, nil
			continue
		}
		cur = &docBlock{line: i + 1, words: strings.Fields(strings.TrimPrefix(line, "```"))}
	}
	if cur != nil {
		t.Fatalf("%s:%d: fence never closed", docPath, cur.line)
	}
	return out
}

// docTypes are the types a json block may be labelled with.
var docTypes = map[string]func() any{
	"api.AcquireRequest":  func() any { return new(api.AcquireRequest) },
	"api.AcquireResponse": func() any { return new(api.AcquireResponse) },
	"api.SplitRequest":    func() any { return new(api.SplitRequest) },
	"api.SplitResponse":   func() any { return new(api.SplitResponse) },
	"api.BindRequest":     func() any { return new(api.BindRequest) },
	"api.RcapRequest":     func() any { return new(api.RcapRequest) },
	"api.QueryResponse":   func() any { return new(api.QueryResponse) },
	"api.NMRcaps":         func() any { return new(api.NMRcaps) },
	"api.PassRequest":     func() any { return new(api.PassRequest) },
	"api.ExtendRequest":   func() any { return new(api.ExtendRequest) },
	"api.AmendRequest":    func() any { return new(api.AmendRequest) },
	"api.NMList":          func() any { return new(api.NMList) },
	"api.SliverRequest":   func() any { return new(api.SliverRequest) },
	"api.ReclaimRequest":  func() any { return new(api.ReclaimRequest) },
	"api.NMError":         func() any { return new(api.NMError) },
	"struct{}":            func() any { return new(struct{}) },
}

// docOps are the request type of each op a walk-through may call.
var docOps = map[string]string{
	"acquire": "api.AcquireRequest", "split": "api.SplitRequest", "bind": "api.BindRequest",
	"release": "api.RcapRequest", "query": "api.RcapRequest", "rcaps": "struct{}",
	"pass": "api.PassRequest", "extend": "api.ExtendRequest", "amend": "api.AmendRequest", "reclaim": "api.ReclaimRequest",
	"start": "api.SliverRequest", "stop": "api.SliverRequest", "destroy": "api.SliverRequest",
}

// checkJSON decodes text strictly into a new value of type label, as the
// node manager decodes requests, and checks that it is written as the
// code would write it back: no field the type lacks, none of the wrong
// type, none that encoding would leave out.
func checkJSON(label, text string) error {
	mk, ok := docTypes[label]
	if !ok {
		return fmt.Errorf("unknown type label %q", label)
	}
	v := mk()
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("as %s: %w", label, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("as %s: trailing data after the JSON object", label)
	}
	back, err := json.Marshal(v)
	if err != nil {
		return err
	}
	want, got := generic(text), generic(string(back))
	if !jsonEqual(want, got) {
		return fmt.Errorf("as %s: not as the code writes it:\n doc:  %s\n code: %s", label, compact(text), back)
	}
	return nil
}

func generic(text string) any {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	return v
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y) // maps marshal with sorted keys
}

func compact(text string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(text)) != nil {
		return text
	}
	return b.String()
}

// A docCall is one `nm OP <<'EOF' ... EOF` of a walk-through's sh block.
type docCall struct {
	line   int
	socket string // from the block's nm() definition, or the one before
	op     string
	body   string
}

var (
	nmDefRE  = regexp.MustCompile(`(?m)^nm\(\) \{ curl -sS --unix-socket (\S+) -H 'Content-Type: application/json' --data-binary @- "http://nm/v1/\$1"; \}$`)
	nmCallRE = regexp.MustCompile(`(?ms)^nm (\w+) <<'EOF'\n(.*?)\nEOF$`)
)

// callsOf returns the nm calls of sh block b, whose nm() is the one in b
// or else socket.
func callsOf(t *testing.T, b docBlock, socket string) (string, []docCall) {
	t.Helper()
	if m := nmDefRE.FindStringSubmatch(b.body); m != nil {
		socket = m[1]
	} else if strings.Contains(b.body, "nm()") {
		t.Errorf("%s:%d: nm() is not the definition the walk-through replays", docPath, b.line)
	}
	var calls []docCall
	for _, m := range nmCallRE.FindAllStringSubmatch(b.body, -1) {
		calls = append(calls, docCall{line: b.line, socket: socket, op: m[1], body: m[2]})
	}
	return socket, calls
}

// TestDocJSON checks every JSON example of docs/nodemanager.md against the
// api type it is labelled with, every request of its walk-through against
// its op's request type, its policy example against ParsePolicy and its
// Go program against gofmt, and that every op's types appear.
func TestDocJSON(t *testing.T) {
	seen := map[string]bool{}
	var socket string
	var policies, programs, calls int
	for _, b := range readDoc(t) {
		at := fmt.Sprintf("%s:%d", docPath, b.line)
		switch b.lang() {
		case "json":
			if len(b.words) < 2 {
				t.Errorf("%s: json block without a type label", at)
				continue
			}
			if len(b.words) > 3 {
				t.Errorf("%s: labels %q: want TYPE [STATUS]", at, b.words[1:])
			}
			if len(b.words) == 3 {
				if n, err := strconv.Atoi(b.words[2]); err != nil || http.StatusText(n) == "" {
					t.Errorf("%s: %q is not an HTTP status", at, b.words[2])
				}
			}
			seen[b.words[1]] = true
			if err := checkJSON(b.words[1], b.body); err != nil {
				t.Errorf("%s: %v", at, err)
			}
		case "sh":
			var cs []docCall
			socket, cs = callsOf(t, b, socket)
			for _, c := range cs {
				calls++
				label, ok := docOps[c.op]
				if !ok {
					t.Errorf("%s: nm %s: no such op", at, c.op)
					continue
				}
				if err := checkJSON(label, c.body); err != nil {
					t.Errorf("%s: nm %s: %v", at, c.op, err)
				}
			}
		case "policy":
			policies++
			if _, err := ParsePolicy([]byte(b.body)); err != nil {
				t.Errorf("%s: policy: %v", at, err)
			}
		case "go":
			programs++
			src := b.body + "\n"
			out, err := format.Source([]byte(src))
			if err != nil || string(out) != src {
				t.Errorf("%s: the Go program is not gofmt'ed (%v)", at, err)
			}
		}
	}
	for label := range docTypes {
		if !seen[label] {
			t.Errorf("no example of %s", label)
		}
	}
	if policies != 1 || programs != 1 || calls < 8 {
		t.Errorf("found %d policy blocks, %d Go programs, %d walk-through calls: want 1, 1 and the walk-through", policies, programs, calls)
	}
}

// docPolicy returns the policy example of the document.
func docPolicy(t *testing.T) *Policy {
	t.Helper()
	for _, b := range readDoc(t) {
		if b.lang() == "policy" {
			p, err := ParsePolicy([]byte(b.body))
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	t.Fatal("no policy block")
	return nil
}

// docProgram returns the Go program of the document.
func docProgram(t *testing.T) string {
	t.Helper()
	for _, b := range readDoc(t) {
		if b.lang() == "go" {
			return b.body + "\n"
		}
	}
	t.Fatal("no Go program")
	return ""
}

const docCallName = "orbistest-nodemgr-doccall"

func init() { reexec.Register(docCallName, docCallChild) }

// docCallChild makes one call, as curl does in the walk-through: its
// arguments are the socket and the op, its standard input the body; it
// prints the status on a line, then the answer.
func docCallChild() {
	sock, op := os.Args[1], os.Args[2]
	c := http.Client{Transport: &http.Transport{Dial: func(_, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}
	res, err := c.Post("http://nm/v1/"+op, "application/json", os.Stdin)
	if err != nil {
		fmt.Println(0)
		fmt.Println(err)
		os.Exit(1)
	}
	defer res.Body.Close()
	fmt.Println(res.StatusCode)
	io.Copy(os.Stdout, res.Body)
}

var (
	rcapLikeRE = regexp.MustCompile(`\b[0-9a-f]{32}\b`)
	idLikeRE   = regexp.MustCompile(`^[0-9a-f]{16}$`)
)

// docMatcher compares the walk-through's answers with the node manager's,
// learning which real rcap or ID each of the document's stands for.
type docMatcher struct{ real map[string]string }

// subst replaces the document's rcaps and IDs in s with the real ones.
func (m *docMatcher) subst(s string) string {
	for doc, real := range m.real {
		s = strings.ReplaceAll(s, doc, real)
	}
	return s
}

func (m *docMatcher) match(path string, doc, real any) error {
	switch d := doc.(type) {
	case map[string]any:
		r, ok := real.(map[string]any)
		if !ok || len(r) != len(d) {
			return fmt.Errorf("%s: answer %v, document %v", path, compactAny(real), compactAny(doc))
		}
		for k, dv := range d {
			rv, ok := r[k]
			if !ok {
				return fmt.Errorf("%s.%s: not in the answer %v", path, k, compactAny(real))
			}
			if err := m.match(path+"."+k, dv, rv); err != nil {
				return err
			}
		}
	case []any:
		r, ok := real.([]any)
		if !ok || len(r) != len(d) {
			return fmt.Errorf("%s: answer %v, document %v", path, compactAny(real), compactAny(doc))
		}
		for i := range d {
			if err := m.match(fmt.Sprintf("%s[%d]", path, i), d[i], r[i]); err != nil {
				return err
			}
		}
	case string:
		r, ok := real.(string)
		if !ok {
			return fmt.Errorf("%s: answer %v, document %q", path, compactAny(real), d)
		}
		if (rcapLikeRE.MatchString(d) && len(d) == 32 || idLikeRE.MatchString(d)) && len(r) == len(d) {
			if known, ok := m.real[d]; ok && known != r {
				return fmt.Errorf("%s: %s stands for %s before and %s here", path, d, known, r)
			}
			m.real[d] = r
			return nil
		}
		if m.subst(d) != r {
			return fmt.Errorf("%s: answer %q, document %q", path, r, d)
		}
	default:
		if !jsonEqual(doc, real) {
			return fmt.Errorf("%s: answer %v, document %v", path, compactAny(real), compactAny(doc))
		}
	}
	return nil
}

func compactAny(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
