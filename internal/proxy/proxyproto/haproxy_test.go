package proxyproto

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pollstack/pollstack/internal/testbed/bedtest"
)

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestHAProxy checks interoperation with HAProxy, if it is installed, on
// loopback only: headers our encoders write are accepted by a listener with
// accept-proxy (which echoes the addresses it took from them), and the
// headers HAProxy writes with send-proxy and send-proxy-v2 (also with its
// CRC32C and unique-ID TLVs) parse here.
func TestHAProxy(t *testing.T) {
	bedtest.NeedTools(t, "haproxy") // CI installs it and requires it
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatal(err)
	}
	backend, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	accept, send1, send2, send3 := freePort(t), freePort(t), freePort(t), freePort(t)
	cfg := fmt.Sprintf(`global
	maxconn 100
defaults
	timeout connect 2s
	timeout client 5s
	timeout server 5s
frontend accept
	mode http
	bind 127.0.0.1:%d accept-proxy
	http-request return status 200 content-type text/plain lf-string "src=%%[src] sport=%%[src_port] dst=%%[dst] dport=%%[dst_port]\n"
frontend send1
	mode tcp
	bind 127.0.0.1:%d
	default_backend v1
frontend send2
	mode tcp
	bind 127.0.0.1:%d
	default_backend v2
frontend send3
	mode tcp
	bind 127.0.0.1:%d
	unique-id-format pollstack-%%cp
	default_backend v2crc
backend v1
	mode tcp
	server s %s send-proxy
backend v2
	mode tcp
	server s %s send-proxy-v2
backend v2crc
	mode tcp
	server s %s send-proxy-v2 proxy-v2-options crc32c,unique-id
`, accept, send1, send2, send3, backend.Addr(), backend.Addr(), backend.Addr())
	dir := t.TempDir()
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy output:\n%s", log.String())
		}
	}()
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", accept))
		if err == nil {
			c.Close()
			break
		}
		if i == 50 {
			t.Fatalf("haproxy does not listen: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	t.Run("accept-proxy", func(t *testing.T) {
		tlv := AppendTLV(nil, TypeAuthority, []byte("www.example.com"))
		for _, c := range []struct {
			name string
			h    Header
			v2   bool
			want string
		}{
			{"v1 TCP4", Header{Command: Proxy, Src: ap("198.18.0.2:40000"), Dst: ap("198.18.0.1:443")}, false, "src=198.18.0.2 sport=40000 dst=198.18.0.1 dport=443"},
			{"v1 TCP6", Header{Command: Proxy, Src: ap("[2001:2::2]:40000"), Dst: ap("[2001:2::1]:443")}, false, "src=2001:2::2 sport=40000 dst=2001:2::1 dport=443"},
			{"v2 TCP4", Header{Command: Proxy, Src: ap("198.18.0.2:40000"), Dst: ap("198.18.0.1:443")}, true, "src=198.18.0.2 sport=40000 dst=198.18.0.1 dport=443"},
			{"v2 TCP6 TLV", Header{Command: Proxy, Src: ap("[2001:2::2]:1"), Dst: ap("[2001:2::1]:65535"), TLVs: tlv}, true, "src=2001:2::2 sport=1 dst=2001:2::1 dport=65535"},
			{"v2 LOCAL", Header{Command: Local}, true, "src=127.0.0.1 "},
			{"v1 UNKNOWN", Header{Command: Local}, false, "src=127.0.0.1 "},
			{"refused", Header{}, false, ""},
		} {
			var b []byte
			switch {
			case c.want == "":
				b = []byte("PROXY TCP5 198.18.0.2 198.18.0.1 1 2\r\n")
			case c.v2:
				b, _ = AppendV2(nil, &c.h)
			default:
				b = AppendV1(nil, &c.h)
			}
			conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", accept))
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = conn.Write(append(b, "GET / HTTP/1.0\r\nHost: x\r\n\r\n"...))
			resp, _ := io.ReadAll(conn)
			conn.Close()
			if c.want == "" {
				if bytes.Contains(resp, []byte("200")) {
					t.Errorf("%s: header %q answered %q", c.name, b, resp)
				}
				continue
			}
			t.Logf("%s: %q", c.name, resp[bytes.LastIndex(resp, []byte("\r\n\r\n"))+4:])
			if !bytes.HasPrefix(resp, []byte("HTTP/1.0 200")) && !bytes.HasPrefix(resp, []byte("HTTP/1.1 200")) || !bytes.Contains(resp, []byte(c.want)) {
				t.Errorf("%s: header %q: response %q, want %q", c.name, b, resp, c.want)
			}
		}
	})

	t.Run("send-proxy", func(t *testing.T) {
		for _, c := range []struct {
			port int
			ver  uint8
			tlvs bool
		}{{send1, 1, false}, {send2, 2, false}, {send3, 2, true}} {
			client, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", c.port))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = client.Write([]byte("hello"))
			conn, err := backend.Accept()
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			var p Parser
			var got, payload []byte
			buf := make([]byte, 512)
			for len(payload) < len("hello") {
				k, err := conn.Read(buf)
				if err != nil {
					t.Fatalf("v%d: read after %q: %v", c.ver, got, err)
				}
				got = append(got, buf[:k]...)
				in := buf[:k]
				if p.Header().Len == 0 {
					n, done, err := p.Feed(in)
					if err != nil {
						t.Fatalf("v%d: %q: %v", c.ver, got, err)
					}
					if !done {
						continue
					}
					in = in[n:]
				}
				payload = append(payload, in...)
			}
			conn.Close()
			client.Close()
			h := p.Header()
			wantSrc := netip.MustParseAddrPort(client.LocalAddr().String())
			wantDst := netip.MustParseAddrPort(client.RemoteAddr().String())
			if h.Version != c.ver || h.Command != Proxy || h.Src != wantSrc || h.Dst != wantDst || string(payload) != "hello" {
				t.Errorf("v%d: %q: header %+v, payload %q; want %v -> %v", c.ver, got, h, payload, wantSrc, wantDst)
			}
			if c.tlvs {
				_, crc := h.TLV(TypeCRC32C)
				id, _ := h.TLV(TypeUniqueID)
				if want := fmt.Sprint("pollstack-", wantSrc.Port()); !crc || string(id) != want {
					t.Errorf("v2 TLVs %x: CRC32C %v, unique ID %q, want %q", h.TLVs, crc, id, want)
				}
			}
			t.Logf("haproxy send-proxy v%d: %q", c.ver, strings.TrimSuffix(string(got), "hello"))
		}
	})
}
