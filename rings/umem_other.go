//go:build !linux

package rings

func allocUMEM(size int) ([]byte, error) { return make([]byte, size), nil }

func freeUMEM(mem []byte) error { return nil }
