package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// envCPUProfile names a file that receives a CPU profile of the whole process (runtime/pprof),
// for `go tool pprof`: how the figures of the transport benchmark's notes are taken, e.g.
//
//	MSSANTE_CPUPROFILE=sync.prof mssante sync --account … && go tool pprof -top mssante sync.prof
//
// The profile holds function names and sample counts only, no data of the messages.
const envCPUProfile = "MSSANTE_CPUPROFILE"

// startProfile starts the CPU profile when envCPUProfile is set and returns what ends it.
func startProfile() (stop func()) {
	path := os.Getenv(envCPUProfile)
	if path == "" {
		return func() {}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mssante: %s: %v\n", envCPUProfile, err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
