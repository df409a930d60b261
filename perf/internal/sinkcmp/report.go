package sinkcmp

import (
	"fmt"
	"io"
)

// PrintReport writes the report as sinkcmp prints it: the settings, every
// window, the medians and the ratio.
func PrintReport(w io.Writer, r *Report) {
	fmt.Fprintf(w, "sinkcmp: %d-byte UDP frames, %d flow(s), window %v after %v warm-up, generator on CPU %d, receivers on CPU %d\n",
		r.Options.Size, r.Options.Flows, r.Options.Duration, r.Options.Warmup, r.Options.GenCPU, r.Options.RxCPU)
	fmt.Fprintf(w, "pollstack: XDP program in %s mode, sink batch %d, ring %d, %d frames; receivers at nice %d (generator too: %v; other threads confined: %v)\n", r.XDPMode, r.Batch, r.RingSize, r.Frames, r.Options.Nice, r.Options.GenNice, r.Options.Confine)
	fmt.Fprintf(w, "testpmd: %s\n", r.TestpmdCmd)
	for _, recv := range r.Receivers {
		fmt.Fprintf(w, "receiver %v\n", recv)
	}
	fmt.Fprintln(w)
	width := 9
	for _, recv := range r.Receivers {
		width = max(width, len(recv.Name))
	}
	fmt.Fprintf(w, "%-6s %-*s %12s %12s %8s %12s %8s\n", "round", width, "receiver", "rx Mpps", "gen Mpps", "rx/gen", "dropped", "loadavg")
	for _, x := range r.Windows {
		fmt.Fprintf(w, "%-6d %-*s %12.3f %12.3f %7.1f%% %12d %8.2f\n", x.Round, width, x.Receiver, x.RxPPS/1e6, x.GenPPS/1e6, 100*x.RxPPS/x.GenPPS, x.RxDropped, x.LoadAvg)
	}
	fmt.Fprintln(w)
	for _, recv := range r.Receivers {
		m := r.Median[recv.Name]
		fmt.Fprintf(w, "%-6s %-*s %12.3f %12.3f\n", "median", width, recv.Name, m.RxPPS/1e6, m.GenPPS/1e6)
	}
	fmt.Fprintf(w, "ratio sink/testpmd = %.3f\n", r.Ratio)
}
