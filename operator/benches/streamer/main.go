// Command streamer serves, on each of several loopback ports, a pprof endpoint whose body is a
// large artifact streamed as fast as the client reads it: `make bench` points `godiag collect`
// at 20 of them to measure the collector's memory while 20 artifacts of 50 MB stream at once.
// The body starts like a gzip-compressed profile (what the collector checks) and is not
// decodable beyond that: collection stores bytes, it does not decode them.
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand"
	"net"
	"net/http"
	"strconv"
)

func main() {
	first := flag.Int("port", 17000, "first loopback port")
	n := flag.Int("n", 20, "ports to listen on: port, port+1, …")
	mb := flag.Int("mb", 50, "size of each body in MB (10^6 bytes)")
	flag.Parse()

	chunk := make([]byte, 1<<16)
	rand.New(rand.NewSource(1)).Read(chunk)
	chunk[0], chunk[1] = 0x1f, 0x8b // gzip magic: the start a pprof body has
	body := func(w http.ResponseWriter, _ *http.Request) {
		total := int64(*mb) * 1_000_000
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(total, 10))
		for sent := int64(0); sent < total; {
			part := chunk
			if left := total - sent; left < int64(len(part)) {
				part = part[:left]
			}
			k, err := w.Write(part)
			if err != nil {
				return
			}
			sent += int64(k)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/heap", body)
	for i := 0; i < *n; i++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *first+i))
		if err != nil {
			log.Fatal(err)
		}
		go func() { log.Fatal(http.Serve(l, mux)) }()
	}
	fmt.Println("ready")
	select {}
}
