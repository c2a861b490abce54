// Package nettest builds throwaway network testbeds for root tests (Linux only: see nettest_linux.go).
package nettest
