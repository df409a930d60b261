package rings

import "golang.org/x/sys/unix"

// allocUMEM maps anonymous, page-aligned, pre-faulted memory outside the Go
// heap, as AF_XDP requires for UMEM registration.
func allocUMEM(size int) ([]byte, error) {
	return unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
}

func freeUMEM(mem []byte) error { return unix.Munmap(mem) }
