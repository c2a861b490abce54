// Command nmclient is a test's broker inside a sliver: it calls the node
// manager at /run/orbis-nm/nm.sock and prints the answer as JSON, or
// "ERR <status> <message>" and exits 1.
//
//	nmclient rcaps | split RCAP RSPEC | bind SLICE RCAP | acquire RSPEC | pass RCAP TO | query RCAP
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/orbisproject/orbis/api"
)

func main() {
	c := api.NewNMClient(api.NMSliverSocket)
	ctx := context.Background()
	a := os.Args[1:]
	var out any
	var err error
	rspec := func(s string) api.Rspec {
		var rs api.Rspec
		if err := json.Unmarshal([]byte(s), &rs); err != nil {
			fmt.Println("ERR 0 bad rspec:", err)
			os.Exit(2)
		}
		return rs
	}
	switch a[0] {
	case "rcaps":
		out, err = c.Rcaps(ctx)
	case "split":
		out, err = c.Split(ctx, api.Rcap(a[1]), rspec(a[2]))
	case "bind":
		err = c.Bind(ctx, a[1], api.Rcap(a[2]), api.BindAttrs{InitScript: "exec sleep 1000"})
	case "acquire":
		out, err = c.Acquire(ctx, rspec(a[1]))
	case "pass":
		err = c.Pass(ctx, api.Rcap(a[1]), a[2])
	case "query":
		out, err = c.Query(ctx, api.Rcap(a[1]))
	}
	if err != nil {
		var ce *api.NMCallError
		status := 0
		if errors.As(err, &ce) {
			status = ce.Status
		}
		fmt.Printf("ERR %d %s\n", status, err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
