// Command nmprobe is what the node manager attack tests in
// internal/testbed run inside the slivers of privileged slices (built
// static, copied in over ssh), talking to /run/orbis-nm/nm.sock:
//
//	nmprobe acquire RSPEC      acquire the rspec (JSON); prints "acquired ID"
//	nmprobe split RSPEC        split the rspec (JSON) off the slice's pool;
//	                           prints "split ID"
//	nmprobe flood TO N END     acquire N rcaps of nothing but END (Unix
//	                           seconds) and pass each to slice TO; prints
//	                           "passed N"
//	nmprobe rcaps              prints "owned N pool P": the rcaps the slice
//	                           owns, and how many are pools
//
// A refusal prints the node manager's error and exits 1.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/orbisproject/orbis/api"
)

func main() {
	ctx := context.Background()
	nm := api.NewNMClient(api.NMSliverSocket)
	a := os.Args[1:]
	var err error
	switch a[0] {
	case "acquire":
		var rc api.Rcap
		if rc, err = nm.Acquire(ctx, rspec(a[1])); err == nil {
			var q api.QueryResponse
			q, err = nm.Query(ctx, rc)
			fmt.Println("acquired", q.ID)
		}
	case "split":
		err = split(ctx, nm, rspec(a[1]))
	case "flood":
		err = flood(ctx, nm, a[1], atoi(a[2]), int64(atoi(a[3])))
	case "rcaps":
		var rs api.NMRcaps
		if rs, err = nm.Rcaps(ctx); err == nil {
			pools := 0
			for _, r := range rs.Rcaps {
				if r.Pool {
					pools++
				}
			}
			fmt.Println("owned", len(rs.Rcaps), "pool", pools)
		}
	default:
		err = fmt.Errorf("unknown command %q", a[0])
	}
	if err != nil {
		fmt.Println("refused:", err)
		os.Exit(1)
	}
}

func split(ctx context.Context, nm *api.NMClient, rs api.Rspec) error {
	owned, err := nm.Rcaps(ctx)
	if err != nil {
		return err
	}
	for _, r := range owned.Rcaps {
		if r.Pool {
			rc, err := nm.Split(ctx, r.Rcap, rs)
			if err != nil {
				return err
			}
			q, err := nm.Query(ctx, rc)
			fmt.Println("split", q.ID)
			return err
		}
	}
	return fmt.Errorf("no pool among %d rcaps", len(owned.Rcaps))
}

func flood(ctx context.Context, nm *api.NMClient, to string, n int, end int64) error {
	for i := range n {
		rc, err := nm.Acquire(ctx, api.Rspec{End: end})
		if err != nil {
			return fmt.Errorf("acquire %d: %w", i, err)
		}
		if err := nm.Pass(ctx, rc, to); err != nil {
			return fmt.Errorf("pass %d: %w", i, err)
		}
	}
	fmt.Println("passed", n)
	return nil
}

func rspec(s string) api.Rspec {
	var rs api.Rspec
	if err := json.Unmarshal([]byte(s), &rs); err != nil {
		fmt.Println("bad rspec:", err)
		os.Exit(2)
	}
	return rs
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fmt.Println("bad number:", err)
		os.Exit(2)
	}
	return n
}
