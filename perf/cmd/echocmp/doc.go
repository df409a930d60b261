// Command echocmp compares a small Write+Read echo round trip through
// pollstack's net.Conn (two engines over the in-memory link) with the same
// over the kernel's TCP loopback, side by side: the two run in alternating
// rounds so that the machine's noise falls on both.
package main
