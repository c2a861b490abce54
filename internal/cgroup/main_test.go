package cgroup

import (
	"bufio"
	"fmt"
	"os"
	"testing"
)

// helperEnv selects a helper mode when the test binary re-executes itself.
const helperEnv = "ORBISTEST_CGROUP_HELPER"

// TestMain runs a helper instead of the tests when helperEnv is set:
// "alloc" waits for a line on stdin, then touches 200 MiB of memory and
// prints "survived".
func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "alloc":
		allocHelper()
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// allocHelper allocates and touches 200 MiB once told to on stdin.
func allocHelper() {
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		os.Exit(3)
	}
	var chunks [][]byte
	for range 200 {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		chunks = append(chunks, b)
	}
	fmt.Println("survived", len(chunks))
	os.Exit(0)
}
