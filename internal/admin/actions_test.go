package admin

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestActionLogRotates: the log never holds more than twice its bound,
// and keeps the newest actions.
func TestActionLogRotates(t *testing.T) {
	dir := t.TempDir()
	l := newActionLog(filepath.Join(dir, ActionsFile))
	l.max = 4096
	for i := range 500 {
		if err := l.append(Action{Time: time.Unix(int64(i), 0), Op: "ps", Result: "ok", Note: strings.Repeat("x", 20)}); err != nil {
			t.Fatal(err)
		}
	}
	acts, err := ReadActions(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) == 0 || len(acts)*100 > 2*4096 || acts[len(acts)-1].Time.Unix() != 499 {
		t.Errorf("%d actions kept, last %v", len(acts), acts[len(acts)-1].Time)
	}
	for i := 1; i < len(acts); i++ {
		if acts[i].Time.Unix() != acts[i-1].Time.Unix()+1 {
			t.Fatalf("actions out of order at %d", i)
		}
	}
}
