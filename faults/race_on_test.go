//go:build race

package faults

// raceEnabled makes the test build the workload with -race too.
const raceEnabled = true
