// Command losscmp compares TCP under loss on one impaired test bed: for
// each cell of a matrix (loss x delay x direction) it moves the same bytes
// through one connection with pollstack at one end and with the Linux
// kernel in its place, on the same path, and prints goodput, RTO count,
// retransmitted segments and the longest stall for each.
//
//	sudo go run ./perf/cmd/losscmp [--loss 0.001,0.01,0.02,0.05] [--delay 0,10ms]
//	    [--direction send,recv] [--bytes 16777216] [--rounds 3]
//	    [--pollstack NAME=BIN ...] [--sysctl NAME=VALUE ...] [--kernel-cc cubic]
//	    [--stack-cpu 0] [--peer-cpu 1] [--json FILE]
//
// Direction send: the sender sits in NAME-a — pollstack's 'bench bulk'
// over AF_XDP, or the kernel (a socket in NAME-a, with 198.18.0.1 on the
// veth end while pollstack is not on it, TSO and GSO off so the kernel
// sends frames the size pollstack sends) — and the receiver is a socket
// of this program in NAME-b, which measures the goodput (bytes over the
// time from accept to the end of the stream) and the longest gap between
// two reads (the stall). RTOs and retransmissions are pollstack's own
// counters (bench's report) and the kernel's TcpExtTCPTimeouts and
// TcpRetransSegs (nstat in NAME-a).
//
// Direction recv: the kernel in NAME-b sends, to pollstack's 'serve --app
// discard' or to a socket of this program in NAME-a; goodput is measured
// by the sender (until the receiver closes after the end of the stream),
// and the RTOs and retransmissions are the kernel sender's (nstat in
// NAME-b). The stall is measured only where this program receives.
//
// The end under test (pollstack's process, or the kernel socket's thread
// in its place) runs on --stack-cpu (0) and the kernel's end in NAME-b on
// --peer-cpu (1). Left to the scheduler on a 2-CPU machine, the peer's
// program shared a CPU with pollstack's busy-polling loop, read late, and
// the Linux receiver, whose ACK waits for the reader or its 40 ms timer,
// stalled pollstack's sends for 40-50 ms at a time.
//
// The kernel's ends (the receiver in NAME-b, the kernel sender in either
// namespace) read and write with blocking system calls on their pinned
// threads, as socat or iperf3 would (harness.Blocking): a Go connection
// that would block is woken through the runtime's network poller, whose
// thread may have to wait for the CPU a busy-polling pollstack keeps.
//
// With loss 0 in --loss, the table gains two columns: each stack's goodput
// in a lossy cell as a share of its own in the loss-0 cell of the same
// delay and direction ("of its clean"), and pollstack's share over the
// kernel's ("kept vs kernel"). The bed charges each stack a different
// cost per frame on a clean path (AF_XDP in copy mode builds an skb for
// every frame pollstack sends; the kernel's TCP hands the veth segments it
// cut from 64 KiB in one pass), and the share takes that out, leaving
// what loss costs each.
//
// Both stacks run the same congestion control: pollstack's cc.algorithm
// (cubic by default) and the kernel's --kernel-cc (cubic by default, set in
// both namespaces; a namespace otherwise inherits the host's default, which
// may be bbr, and bbr hardly slows for random loss at all).
//
// Several pollstack builds (--pollstack before=BIN --pollstack after=BIN)
// run side by side in the same rounds, each round in a rotated order. Each
// delay has a bed of its own: a delay's cells run on a relayed bed (the
// relay in NAME-d holds every frame half the delay each way, so the round
// trip grows by the delay), delay 0's on a bed of one veth pair. A cell
// whose impairment cannot be made is reported as skipped. Run it from the
// repository's top directory (without --pollstack it builds
// ./cmd/pollstack).
package main
