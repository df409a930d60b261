package testbed

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/pollstack/pollstack/cores"
)

// The RSS program itself, run by the kernel on crafted frames
// (BPF_PROG_TEST_RUN, in its test variant that returns the hash): the
// Toeplitz hash of random IPv4 and IPv6 tuples over TCP and UDP equals
// cores.RSS's, and other frames are left alone. The program that SetRSS
// attaches loads for the smallest and largest tables.
func TestRSSProgramInKernel(t *testing.T) {
	requirePrivileged(t)
	r := rand.New(rand.NewPCG(3, 4))
	for name, key := range testKeys() {
		rss, err := NewRSS(key, []int{0, 1}, 2)
		if err != nil {
			t.Fatal(err)
		}
		m, err := newRSSMap(rss)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "bed_rss_test", Type: ebpf.SchedCLS,
			Instructions: rssProg(m, 2, true), License: "GPL"})
		if err != nil {
			t.Fatalf("load the test program: %v", err)
		}
		defer prog.Close()
		for i := 0; i < 200; i++ {
			v6 := i%2 == 1
			proto := byte(6)
			if i%4 >= 2 {
				proto = 17
			}
			src, dst := randomTuple(r, v6)
			got, err := prog.Run(&ebpf.RunOptions{Data: rssFrame(src, dst, proto)})
			if err != nil {
				t.Fatalf("test run: %v", err)
			}
			if want := coresHash(t, key, src, dst); got != want {
				t.Fatalf("%s key, %v -> %v proto %d: kernel ran the program to %#x, cores.RSS says %#x", name, src, dst, proto, got, want)
			}
		}
		src, dst := netip.MustParseAddrPort("198.18.0.2:1000"), netip.MustParseAddrPort("198.18.0.1:80")
		for _, proto := range []byte{1, 58, 132} {
			if got, err := prog.Run(&ebpf.RunOptions{Data: rssFrame(src, dst, proto)}); err != nil || got != uint32(0xffffffff) {
				t.Errorf("protocol %d: %#x, %v; want TC_ACT_UNSPEC and nothing hashed", proto, got, err)
			}
		}
	}
	for _, size := range []int{1, 128, MaxRSSTable} {
		rss, err := NewRSS(cores.SymmetricRSSKey[:], make([]int, size), 1)
		if err != nil {
			t.Fatal(err)
		}
		m, err := newRSSMap(rss)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "bed_rss", Type: ebpf.SchedCLS,
			Instructions: rssProg(m, size, false), License: "GPL"})
		if err != nil {
			t.Errorf("table of %d: load the program: %v", size, err)
		} else {
			prog.Close()
		}
		m.Close()
	}
}
