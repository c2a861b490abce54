package store_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/central/store"
	"github.com/orbisproject/orbis/internal/reexec"
)

// writerEntry is the hidden entry point of the crash test's child.
const writerEntry = "orbistest-store-writer"

func init() { reexec.Register(writerEntry, crashWriter) }

// crashWriter opens the store of os.Args[1] (dsn) and [2] (data dir) and
// adds slices of site [3] on node [4] forever, printing each slice id once
// its Update has returned.
func crashWriter() {
	ctx := context.Background()
	s, err := store.Open(ctx, os.Args[1], os.Args[2], discard)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	siteID, _ := strconv.ParseInt(os.Args[3], 10, 64)
	nodeID, _ := strconv.ParseInt(os.Args[4], 10, 64)
	for i := 0; ; i++ {
		var id int64
		err := s.Update(ctx, "system", func(tx store.Tx) error {
			sl := newSlice(siteID, fmt.Sprintf("ex_crash%d", i))
			if err := tx.AddSlice(&sl); err != nil {
				return err
			}
			id = sl.SliceID
			if err := tx.AddSliceToNodes(id, []int64{nodeID}); err != nil {
				return err
			}
			return tx.BumpNodes([]int64{nodeID})
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Println(id)
	}
}

// testCrash SIGKILLs a writer mid-way and checks every acknowledged slice
// is there, whole, in a sound database.
func testCrash(t *testing.T, b backend) {
	dsn, dir := b.fresh(t)
	s := open(t, dsn, dir)
	f := seed(t, s, "ex")
	s.Close()

	cmd := reexec.Command(writerEntry, dsn, dir, fmt.Sprint(f.site.SiteID), fmt.Sprint(f.nodes[0].NodeID))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []int64
	lines := bufio.NewScanner(out)
	deadline := time.Now().Add(20 * time.Second)
	for len(acked) < 200 && time.Now().Before(deadline) && lines.Scan() {
		id, err := strconv.ParseInt(lines.Text(), 10, 64)
		if err != nil {
			t.Fatalf("writer printed %q", lines.Text())
		}
		acked = append(acked, id)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	for lines.Scan() { // acknowledged before the kill landed
		if id, err := strconv.ParseInt(lines.Text(), 10, 64); err == nil {
			acked = append(acked, id)
		}
	}
	cmd.Wait()
	if len(acked) < 10 {
		t.Fatalf("writer acknowledged only %d writes", len(acked))
	}
	t.Logf("%d writes acknowledged before SIGKILL", len(acked))

	s = open(t, dsn, dir)
	all := get(t, s, slicesOf, where(store.Cond{Field: "name", Op: store.Like, Value: "ex_crash*"}))
	have := map[int64]bool{}
	for _, sl := range all {
		have[sl.SliceID] = true
		// Nothing half-written: each slice has its node and its event.
		if len(sl.NodeIDs) != 1 {
			t.Errorf("slice %s has nodes %v", sl.Name, sl.NodeIDs)
		}
	}
	for _, id := range acked {
		if !have[id] {
			t.Errorf("acknowledged slice %d lost", id)
		}
	}
	created := get(t, s, events, where(eq("action", "AddSlice"), store.Cond{Field: "object_id", Op: store.Ne, Value: f.slice.SliceID}))
	equal(t, "AddSlice events of crash slices", len(created), len(all))
	view(t, s, func(tx store.Tx) error {
		v, err := tx.NodeVersions([]int64{f.nodes[0].NodeID})
		equal(t, "node version", v[f.nodes[0].NodeID], int64(len(all)))
		return err
	})
	if b.name == "sqlite" {
		checkIntegrity(t, b, dsn, dir)
	}
}

// checkIntegrity runs SQLite's integrity and foreign key checks.
func checkIntegrity(t *testing.T, b backend, dsn, dir string) {
	raw, err := b.raw(dsn, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var res string
	if err := raw.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Errorf("integrity_check = %q, %v", res, err)
	}
	rows, err := raw.Query("PRAGMA foreign_key_check")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Error("foreign_key_check found dangling rows")
	}
}
