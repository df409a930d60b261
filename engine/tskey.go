package engine

import (
	"crypto/rand"
	"crypto/sha256"
	"os"
)

// bootIDFile names this boot of the machine; it changes at every boot.
const bootIDFile = "/proc/sys/kernel/random/boot_id"

// timestampKey returns the key of the per-connection timestamp offsets:
// derived from the boot's identity, so that every pollstack process of one
// boot gives a 4-tuple the same offset, and with the system's monotonic
// clock (Config.TSBase) its timestamps keep rising across restarts. A
// peer that still holds the 4-tuple in TIME_WAIT then takes a restarted
// client's SYN (its timestamp is newer, RFC 6191) instead of answering it
// with an ACK and waiting for the retransmission a second later. Like the
// kernel's, the offsets change at the next boot. Without a boot identity
// the key is random.
func timestampKey() [16]byte {
	var k [16]byte
	id, err := os.ReadFile(bootIDFile)
	if err != nil || len(id) < 16 {
		rand.Read(k[:])
		return k
	}
	sum := sha256.Sum256(append([]byte("pollstack timestamp offsets\x00"), id...))
	copy(k[:], sum[:16])
	return k
}
