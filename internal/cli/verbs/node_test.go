package verbs

import (
	"flag"
	"io"
	"testing"
)

// TestSniffGroupFlag checks --sniff-group, which `orbis node` and
// `orbis dev` share: a group from 1 to 65535, anything else refused.
func TestSniffGroupFlag(t *testing.T) {
	for _, c := range []struct {
		arg  string
		want uint16
		ok   bool
	}{{"7", 7, true}, {"65535", 65535, true}, {"0", 0, false}, {"65536", 0, false}, {"five", 0, false}} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var g uint16
		sniffGroupFlag(fs, &g)
		err := fs.Parse([]string{"--sniff-group", c.arg})
		if (err == nil) != c.ok || g != c.want {
			t.Errorf("--sniff-group %s: group %d, err %v; want %d, ok %v", c.arg, g, err, c.want, c.ok)
		}
	}
}
