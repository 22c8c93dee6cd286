// Command ctrbench drives containerd 1.6's own local content store
// (content/local) through the same workloads as benchmarks/run.py and prints
// one JSON object per run on stdout.
//
// It is built in GOPATH mode against Debian's containerd sources:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o benchmarks/go/bin/ctrbench ./benchmarks/ctrbench
//
// Workloads (-workload):
//
//	ingest        W1: one blob of -size bytes from memory, known digest and size (WriteBlob)
//	small         W2: -count blobs of -blob-size bytes, -concurrency writers (WriteBlob)
//	read          W3: commit one blob of -size bytes, then read it through ReaderAt + NewReader
//	resume-setup  W4: write -size bytes to ingest -ref, close, then time a same-process reopen
//	resume        W4: time reopening ingest -ref (a new process: run after resume-setup)
//	walk          W5: walk the blobs under -root, without and with a label filter
//	same          W6: -concurrency goroutines write one -size blob under one ref
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/content/local"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/log"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
)

const mib = 1 << 20

type result map[string]interface{}

// memLabels is a LabelStore held in memory, so that Walk can filter on labels
// (containerd's own NewStore has no labels at all).
type memLabels struct {
	mu     sync.Mutex
	labels map[digest.Digest]map[string]string
}

func (m *memLabels) Get(d digest.Digest) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for k, v := range m.labels[d] {
		out[k] = v
	}
	return out, nil
}

func (m *memLabels) Set(d digest.Digest, labels map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := map[string]string{}
	for k, v := range labels {
		if v != "" {
			cp[k] = v
		}
	}
	m.labels[d] = cp
	return nil
}

func (m *memLabels) Update(d digest.Digest, update map[string]string) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.labels[d]
	if cur == nil {
		cur = map[string]string{}
		m.labels[d] = cur
	}
	for k, v := range update {
		if v == "" {
			delete(cur, k)
		} else {
			cur[k] = v
		}
	}
	out := map[string]string{}
	for k, v := range cur {
		out[k] = v
	}
	return out, nil
}

// onlyReader hides bytes.Reader's WriteTo so that Copy moves the data in its
// pooled 1 MiB chunks, as it does for a network stream.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func payload(size int64, seed uint64) []byte {
	data := make([]byte, size)
	rng := rand.New(rand.NewSource(int64(seed)))
	block := make([]byte, mib)
	rng.Read(block)
	for off := int64(0); off < size; off += mib {
		n := copy(data[off:], block)
		// make every MiB distinct
		if n >= 16 {
			binary.LittleEndian.PutUint64(data[off:], seed)
			binary.LittleEndian.PutUint64(data[off+8:], uint64(off))
		}
	}
	return data
}

func describe(data []byte) ocispec.Descriptor {
	sum := sha256.Sum256(data)
	return ocispec.Descriptor{
		MediaType: "application/octet-stream",
		Digest:    digest.NewDigestFromBytes(digest.SHA256, sum[:]),
		Size:      int64(len(data)),
	}
}

// procStatusKiB reads one field (VmRSS, VmHWM) of /proc/self/status in KiB.
func procStatusKiB(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, field+":") {
			parts := strings.Fields(line[len(field)+1:])
			if len(parts) > 0 {
				v, err := strconv.ParseInt(parts[0], 10, 64)
				if err == nil {
					return v
				}
			}
		}
	}
	return -1
}

func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

func die(err error) {
	fmt.Fprintln(os.Stderr, "ctrbench:", err)
	os.Exit(1)
}

func main() {
	workload := flag.String("workload", "", "ingest|small|read|resume-setup|resume|walk|same")
	root := flag.String("root", "", "content root (created when missing)")
	size := flag.Int64("size", 1<<30, "blob size in bytes (ingest, read, resume, same)")
	count := flag.Int("count", 5000, "number of blobs (small)")
	blobSize := flag.Int("blob-size", 4096, "size of each small blob")
	concurrency := flag.Int("concurrency", 64, "concurrent writers (small, same)")
	ref := flag.String("ref", "bench-resume", "ingest ref (resume-setup, resume)")
	seed := flag.Uint64("seed", 1, "seed of the generated data")
	labelEvery := flag.Int("label-every", 2, "label every n-th blob (walk)")
	flag.Parse()
	if *root == "" {
		die(fmt.Errorf("-root is required"))
	}
	log.L.Logger.SetLevel(logrus.FatalLevel)
	ctx := context.Background()

	var out result
	var err error
	switch *workload {
	case "ingest":
		out, err = ingest(ctx, *root, *size, *seed)
	case "small":
		out, err = small(ctx, *root, *count, *blobSize, *concurrency, *seed)
	case "read":
		out, err = read(ctx, *root, *size, *seed)
	case "resume-setup":
		out, err = resumeSetup(ctx, *root, *ref, *size, *seed)
	case "resume":
		out, err = resume(ctx, *root, *ref, *size)
	case "walk":
		out, err = walk(ctx, *root, *labelEvery)
	case "same":
		out, err = same(ctx, *root, *size, *concurrency, *seed)
	default:
		err = fmt.Errorf("unknown -workload %q", *workload)
	}
	if err != nil {
		die(err)
	}
	out["workload"] = *workload
	out["go_version"] = strings.TrimPrefix(goVersion(), "go")
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		die(err)
	}
}

func ingest(ctx context.Context, root string, size int64, seed uint64) (result, error) {
	cs, err := local.NewStore(root)
	if err != nil {
		return nil, err
	}
	data := payload(size, seed)
	desc := describe(data)
	rssBefore := procStatusKiB("VmRSS")
	reset := resetPeakRSS()
	start := time.Now()
	if err := content.WriteBlob(ctx, cs, "bench-ingest", onlyReader{bytes.NewReader(data)}, desc); err != nil {
		return nil, err
	}
	elapsed := time.Since(start).Seconds()
	out := result{"seconds": elapsed, "mb_s": float64(size) / elapsed / 1e6}
	if reset {
		out["rss_growth_bytes"] = (procStatusKiB("VmHWM") - rssBefore) * 1024
	}
	return out, nil
}

func small(ctx context.Context, root string, count, blobSize, concurrency int, seed uint64) (result, error) {
	cs, err := local.NewStore(root)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewSource(int64(seed)))
	blobs := make([][]byte, count)
	descs := make([]ocispec.Descriptor, count)
	for i := range blobs {
		b := make([]byte, blobSize)
		rng.Read(b)
		if blobSize >= 8 {
			binary.LittleEndian.PutUint64(b, uint64(i))
		}
		blobs[i] = b
		descs[i] = describe(b)
	}
	next := make(chan int, count)
	for i := 0; i < count; i++ {
		next <- i
	}
	close(next)
	errs := make(chan error, concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				ref := "small-" + strconv.Itoa(i)
				if err := content.WriteBlob(ctx, cs, ref, bytes.NewReader(blobs[i]), descs[i]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return result{"seconds": elapsed, "blobs_s": float64(count) / elapsed}, nil
}

func read(ctx context.Context, root string, size int64, seed uint64) (result, error) {
	cs, err := local.NewStore(root)
	if err != nil {
		return nil, err
	}
	data := payload(size, seed)
	desc := describe(data)
	if err := content.WriteBlob(ctx, cs, "bench-read", onlyReader{bytes.NewReader(data)}, desc); err != nil {
		return nil, err
	}
	data = nil
	buf := make([]byte, mib)
	readAll := func() (int64, float64, error) {
		start := time.Now()
		ra, err := cs.ReaderAt(ctx, ocispec.Descriptor{Digest: desc.Digest})
		if err != nil {
			return 0, 0, err
		}
		defer ra.Close()
		r := content.NewReader(ra)
		var total int64
		for {
			n, err := r.Read(buf)
			total += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				return total, 0, err
			}
		}
		return total, time.Since(start).Seconds(), nil
	}
	// The first pass warms the page cache; the second is measured.
	if _, _, err := readAll(); err != nil {
		return nil, err
	}
	total, elapsed, err := readAll()
	if err != nil {
		return nil, err
	}
	if total != size {
		return nil, fmt.Errorf("read %d bytes, want %d", total, size)
	}
	return result{"seconds": elapsed, "mb_s": float64(total) / elapsed / 1e6}, nil
}

func writeIngest(ctx context.Context, cs content.Store, ref string, size int64, seed uint64) error {
	w, err := cs.Writer(ctx, content.WithRef(ref))
	if err != nil {
		return err
	}
	data := payload(size, seed)
	if _, err := w.Write(data); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func reopen(ctx context.Context, cs content.Store, ref string, size int64) (float64, error) {
	start := time.Now()
	w, err := cs.Writer(ctx, content.WithRef(ref))
	if err != nil {
		return 0, err
	}
	st, err := w.Status()
	elapsed := time.Since(start).Seconds()
	w.Close()
	if err != nil {
		return 0, err
	}
	if st.Offset != size {
		return 0, fmt.Errorf("resumed at %d, want %d", st.Offset, size)
	}
	return elapsed, nil
}

func resumeSetup(ctx context.Context, root, ref string, size int64, seed uint64) (result, error) {
	cs, err := local.NewStore(root)
	if err != nil {
		return nil, err
	}
	if err := writeIngest(ctx, cs, ref, size, seed); err != nil {
		return nil, err
	}
	elapsed, err := reopen(ctx, cs, ref, size)
	if err != nil {
		return nil, err
	}
	return result{"same_process_seconds": elapsed}, nil
}

func resume(ctx context.Context, root, ref string, size int64) (result, error) {
	start := time.Now()
	cs, err := local.NewStore(root)
	if err != nil {
		return nil, err
	}
	opened := time.Since(start).Seconds()
	elapsed, err := reopen(ctx, cs, ref, size)
	if err != nil {
		return nil, err
	}
	return result{"seconds": opened + elapsed}, nil
}

func walk(ctx context.Context, root string, labelEvery int) (result, error) {
	ls := &memLabels{labels: map[digest.Digest]map[string]string{}}
	cs, err := local.NewLabeledStore(root, ls)
	if err != nil {
		return nil, err
	}
	var all []digest.Digest
	if err := cs.Walk(ctx, func(info content.Info) error {
		all = append(all, info.Digest)
		return nil
	}); err != nil {
		return nil, err
	}
	for i, d := range all {
		if labelEvery > 0 && i%labelEvery == 0 {
			if _, err := cs.Update(ctx, content.Info{Digest: d, Labels: map[string]string{"bench": "yes"}}, "labels.bench"); err != nil {
				return nil, err
			}
		}
	}
	timeWalk := func(filters ...string) (int, float64, error) {
		n := 0
		start := time.Now()
		err := cs.Walk(ctx, func(content.Info) error {
			n++
			return nil
		}, filters...)
		return n, time.Since(start).Seconds(), err
	}
	n, plain, err := timeWalk()
	if err != nil {
		return nil, err
	}
	matched, filtered, err := timeWalk("labels.bench==yes")
	if err != nil {
		return nil, err
	}
	return result{
		"blobs":            n,
		"matched":          matched,
		"seconds":          plain,
		"blobs_s":          float64(n) / plain,
		"filtered_seconds": filtered,
		"filtered_blobs_s": float64(n) / filtered,
	}, nil
}

func same(ctx context.Context, root string, size int64, concurrency int, seed uint64) (result, error) {
	cs, err := local.NewStore(root)
	if err != nil {
		return nil, err
	}
	data := payload(size, seed)
	desc := describe(data)
	var wg sync.WaitGroup
	errs := make(chan error, concurrency)
	start := time.Now()
	for i := 0; i < concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := content.WriteBlob(ctx, cs, "bench-same", onlyReader{bytes.NewReader(data)}, desc)
			if err != nil && !errdefs.IsAlreadyExists(err) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	if _, err := cs.Info(ctx, desc.Digest); err != nil {
		return nil, err
	}
	return result{"seconds": elapsed}, nil
}

func goVersion() string { return runtime.Version() }
