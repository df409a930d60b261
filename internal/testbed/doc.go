// Package testbed builds the two-namespace test bed of DESIGN.md on one
// machine: namespaces NAME-a and NAME-b joined by a veth pair whose ends are
// also called NAME-a and NAME-b. pollstack binds AF_XDP sockets to NAME-a,
// which has no kernel address; the Linux kernel in NAME-b, with 198.18.0.2/24
// and 2001:2::2/64, is the real peer. Impair loses and paces frames on
// that path with the kernel's own parts on NAME-b (tc BPF programs, the tbf
// qdisc), whichever stack is on NAME-a, and delays, reorders and
// duplicates them in a relayed bed (UpWith, Options.Relay): there a middle
// namespace NAME-d holds both ends' veth peers, and a relay process, the
// calling program started again (relay_linux.go), copies frames between
// them through AF_PACKET sockets, each held in a bounded ring for the delay
// (relayq.go), a frame drawn for it held back behind the next one, another
// sent twice. SetRSS makes NAME-b
// steer what the kernel sends as an RSS NIC would: each TCP or UDP flow
// arrives on pollstack's receive queue of the engine's owner core.
//
// UpRouted adds a third namespace NAME-c (198.19.0.2/24, 2001:2:0:1::2/64)
// behind a router: the kernel in NAME-b forwards between pollstack's link
// and a second veth pair (NAME-r in NAME-b, NAME-c in NAME-c), so NAME-c is
// reached from pollstack only through the gateway 198.18.0.2 / 2001:2::2.
// UpRoutedWith can give the router's end of that link a smaller MTU
// (RoutedConfig.RouterMTU), so that the router answers bigger packets with
// ICMP fragmentation needed / packet too big; BlockPMTUICMP then drops
// those errors on NAME-b's egress (a path MTU black hole).
//
// AddVLAN puts NAME-b on an 802.1Q VLAN: a VLAN subinterface NAME-b.ID, or
// on a kernel without 802.1Q support tc programs on NAME-b that tag what
// the kernel sends and untag what it receives.
//
// It is for tests, benchmarks and tools, never for the packet path. Up,
// UpRouted and Down shell out to ip(8) and ethtool(8) and need root. Tests
// use bedtest.ForTest (or ForTestRouted, ForTestRoutedWith), which skips (or fails, with
// POLLSTACK_REQUIRE_PRIVILEGED=1) where the bed cannot be built and tears
// the bed down when the test ends.
package testbed
