// A backend that requires nothing of privlink but reads what it is told: each connection's
// PROXY protocol v2 header (github.com/pires/go-proxyproto, Debian's
// golang-github-pires-go-proxyproto-dev), and Azure's LinkID TLV (its tlvparse package). It speaks
// first, as SMTP, SSH and MySQL servers do: a greeting before any client byte, so a client only
// hears it once privlink has delivered the header.
//
//	greeting:  "HELLO <client ip:port as told> link=<LinkID> header=<PROXY|LOCAL|none>\n"
//	"DOWN n\n": n bytes of a deterministic stream, then the connection closes; logged as
//	           "sent <client> <n> <sha256 hex>"
//	"UP n\n":   reads n bytes, answers "<sha256 hex>\n"
//
// Every connection is logged to --log: "<header> <client> link=<LinkID>" (also for connections
// that close before saying anything).
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

// Stream is the deterministic byte stream "DOWN" sends: byte i is (i * 7 + i / 251) mod 256.
type stream struct{ at uint64 }

func (s *stream) Read(b []byte) (int, error) {
	for i := range b {
		n := s.at + uint64(i)
		b[i] = byte(n*7 + n/251)
	}
	s.at += uint64(len(b))
	return len(b), nil
}

func describe(c *proxyproto.Conn) (string, string, uint32) {
	h := c.ProxyHeader()
	if h == nil {
		return "none", c.RemoteAddr().String(), 0
	}
	kind := "PROXY"
	if h.Command.IsLocal() {
		kind = "LOCAL"
	}
	var link uint32
	if tlvs, err := h.TLVs(); err == nil {
		link, _ = tlvparse.FindAzurePrivateEndpointLinkID(tlvs)
	}
	return kind, c.RemoteAddr().String(), link
}

func serve(c *proxyproto.Conn, logf func(string)) {
	defer c.Close()
	kind, client, link := describe(c)
	logf(fmt.Sprintf("%s %s link=%d", kind, client, link))
	if _, err := fmt.Fprintf(c, "HELLO %s link=%d header=%s\n", client, link, kind); err != nil {
		return
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return
	}
	fields := strings.Fields(line)
	if len(fields) != 2 {
		return
	}
	n, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil || n < 0 {
		return
	}
	switch fields[0] {
	case "DOWN":
		h := sha256.New()
		if _, err := io.CopyN(io.MultiWriter(c, h), &stream{}, n); err == nil {
			logf(fmt.Sprintf("sent %s %d %s", client, n, hex.EncodeToString(h.Sum(nil))))
		}
	case "UP":
		h := sha256.New()
		if _, err := io.CopyN(h, r, n); err == nil {
			fmt.Fprintf(c, "%s\n", hex.EncodeToString(h.Sum(nil)))
		}
	}
}

func main() {
	listen := flag.String("listen", "", "ip:port")
	logPath := flag.String("log", "", "connection log")
	flag.Parse()
	out, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	logf := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(out, s)
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	pl := &proxyproto.Listener{Listener: l}
	for {
		c, err := pl.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c.(*proxyproto.Conn), logf)
	}
}
