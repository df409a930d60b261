package rings

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The metadata constants kept for every platform are the kernel's.
func TestTxMetadataConstantsAreTheKernels(t *testing.T) {
	if xdpTxMetadata != unix.XDP_TX_METADATA || xdpTxMDFlagsChecksum != unix.XDP_TXMD_FLAGS_CHECKSUM {
		t.Fatalf("XDP_TX_METADATA %#x (kernel %#x), XDP_TXMD_FLAGS_CHECKSUM %#x (kernel %#x)",
			xdpTxMetadata, unix.XDP_TX_METADATA, xdpTxMDFlagsChecksum, unix.XDP_TXMD_FLAGS_CHECKSUM)
	}
}
