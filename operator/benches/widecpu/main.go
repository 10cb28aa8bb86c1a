// widecpu writes a CPU profile of the shape of google/pprof's large test profile (about
// 1.2 MB gzipped, 23,000 functions, 40,000 locations with inlined frames, deep stacks) for
// `make bench`. A Go program with that many functions would take minutes to build, so the
// profile is encoded here directly, in profile.proto as the runtime writes it (the same
// fields, packed ids and values, a gzip stream); every name is made up, and the output is the
// same on every run (a fixed seed).
//
//	go run ./operator/benches/widecpu -out FILE.pb.gz
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
)

const (
	functions = 23000
	packages  = 900
	locations = 40000
	samples   = 9000
	period    = 10_000_000 // ns: 100 Hz, as runtime/pprof samples
)

// pb is a minimal protobuf writer: varints, keys and length-delimited fields.
type pb struct{ bytes.Buffer }

func (b *pb) varint(x uint64) {
	for x >= 0x80 {
		b.WriteByte(byte(x) | 0x80)
		x >>= 7
	}
	b.WriteByte(byte(x))
}

func (b *pb) uint(tag int, x uint64) { b.varint(uint64(tag)<<3 | 0); b.varint(x) }

func (b *pb) message(tag int, m *pb) {
	b.varint(uint64(tag)<<3 | 2)
	b.varint(uint64(m.Len()))
	b.Write(m.Bytes())
}

func (b *pb) packed(tag int, xs []uint64) {
	var m pb
	for _, x := range xs {
		m.varint(x)
	}
	b.message(tag, &m)
}

func (b *pb) str(tag int, s string) {
	b.varint(uint64(tag)<<3 | 2)
	b.varint(uint64(len(s)))
	b.WriteString(s)
}

func main() {
	out := flag.String("out", "wide-cpu.pb.gz", "file to write")
	flag.Parse()
	r := rand.New(rand.NewPCG(12, 2026))
	strs := []string{""}
	index := map[string]uint64{"": 0}
	str := func(s string) uint64 {
		if i, ok := index[s]; ok {
			return i
		}
		strs = append(strs, s)
		index[s] = uint64(len(strs) - 1)
		return index[s]
	}
	var p pb
	for _, vt := range [][2]string{{"samples", "count"}, {"cpu", "nanoseconds"}} {
		var m pb
		m.uint(1, str(vt[0]))
		m.uint(2, str(vt[1]))
		p.message(1, &m)
	}
	// Locations: one to three lines (inlined calls), each line a function; functions of a
	// package sit near each other, so stacks walk through packages as real ones do.
	type loc struct{ funcs []uint64 }
	locs := make([]loc, locations)
	for i := range locs {
		n := 1 + r.IntN(3)/2 + r.IntN(4)/3
		base := uint64(r.IntN(functions))
		for j := 0; j < n; j++ {
			locs[i].funcs = append(locs[i].funcs, 1+(base+uint64(j))%functions)
		}
	}
	// Samples: stacks 8 to 50 deep, drawn from a few hundred "request paths" with up to three
	// random leaf frames, so that some functions are hot and most are cold, like a real service.
	paths := make([][]uint64, 300)
	for i := range paths {
		depth := 8 + r.IntN(40)
		for j := 0; j < depth; j++ {
			paths[i] = append(paths[i], 1+uint64(r.IntN(locations)))
		}
	}
	for i := 0; i < samples; i++ {
		path := paths[int(r.ExpFloat64()*40)%len(paths)]
		stack := make([]uint64, 0, 80)
		for j := 0; j < r.IntN(4); j++ {
			stack = append(stack, 1+uint64(r.IntN(locations)))
		}
		stack = append(stack, path...)
		count := uint64(1 + r.IntN(3))
		var s pb
		s.packed(1, stack)
		s.packed(2, []uint64{count, count * period})
		p.message(2, &s)
	}
	var m pb
	m.uint(1, 1)
	m.uint(2, 0x400000)
	m.uint(3, 0x4000000)
	m.uint(5, str("/app/server"))
	m.uint(7, 1) // has_functions
	m.uint(8, 1) // has_filenames
	m.uint(9, 1) // has_line_numbers
	p.message(3, &m)
	for i, l := range locs {
		var lm pb
		lm.uint(1, uint64(i+1))
		lm.uint(2, 1)
		lm.uint(3, 0x401000+uint64(i)*16)
		for _, f := range l.funcs {
			var line pb
			line.uint(1, f)
			line.uint(2, uint64(10+r.IntN(900)))
			lm.message(4, &line)
		}
		p.message(4, &lm)
	}
	for f := 1; f <= functions; f++ {
		pkg := (f - 1) * packages / functions
		path := fmt.Sprintf("github.com/acme/platform/svc%02d/internal/pkg%03d", pkg%40, pkg)
		var name string
		switch f % 3 {
		case 0:
			name = fmt.Sprintf("%s.(*Handler%d).Serve%d", path, f%97, f)
		case 1:
			name = fmt.Sprintf("%s.decode%d.func%d", path, f, f%7+1)
		default:
			name = fmt.Sprintf("%s.process%d", path, f)
		}
		var fm pb
		fm.uint(1, uint64(f))
		fm.uint(2, str(name))
		fm.uint(3, str(name))
		fm.uint(4, str(fmt.Sprintf("/src/%s/file%d.go", path, f%13)))
		fm.uint(5, uint64(1+r.IntN(2000)))
		p.message(5, &fm)
	}
	p.uint(9, 1_780_000_000_000_000_000)
	p.uint(10, 45_000_000_000) // 45 s: about 4 cores
	var pt pb
	pt.uint(1, str("cpu"))
	pt.uint(2, str("nanoseconds"))
	p.message(11, &pt)
	p.uint(12, period)
	for _, s := range strs {
		p.str(6, s)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	if _, err := w.Write(p.Bytes()); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, gz.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d bytes gzipped, %d raw, %d functions, %d locations, %d samples\n", *out, gz.Len(), p.Len(), functions, locations, samples)
}
