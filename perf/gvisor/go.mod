module github.com/pollstack/pollstack/perf/gvisor

go 1.26.0

require (
	github.com/cilium/ebpf v0.12.3
	golang.org/x/sys v0.49.0
	gvisor.dev/gvisor v0.0.0-20250503011706-39ed1f5ac29c
)

require (
	github.com/google/btree v1.1.2 // indirect
	golang.org/x/exp v0.0.0-20230725093048-515e97ebf090 // indirect
	golang.org/x/time v0.7.0 // indirect
)
