// grpc-go-probe: a client built on grpc-go, the gRPC stack upstream NSM runs on, for the
// tests and benchmarks that must see how our servers treat such a client. It sends
// pre-encoded protobuf bytes (no generated Go code needed) and prints what happened as JSON.
//
// Built by the tests in GOPATH mode from Debian's golang-go and golang-google-grpc-dev:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o BIN main.go
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// raw passes message bytes through unchanged.
type raw struct{}

func (raw) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (raw) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (raw) Name() string { return "proto" }

// String makes raw a grpc.Codec too (Debian's grpc-go 1.33 has no ForceServerCodec).
func (raw) String() string { return "proto" }

func describe(err error) string {
	if err == nil {
		return "OK"
	}
	s, _ := status.FromError(err)
	return fmt.Sprintf("%s: %s", s.Code(), s.Message())
}

func dial(addr string) *grpc.ClientConn {
	conn, err := grpc.Dial(addr, grpc.WithInsecure(), grpc.WithDefaultCallOptions(grpc.ForceCodec(raw{})))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	return conn
}

func readRequest(path string) []byte {
	data, err := ioutil.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	return data
}

var streaming = &grpc.StreamDesc{ServerStreams: true}

// open starts a server-streaming call: the request sent, the sending side closed.
func open(ctx context.Context, conn *grpc.ClientConn, method string, request []byte) (grpc.ClientStream, error) {
	stream, err := conn.NewStream(ctx, streaming, method)
	if err == nil {
		err = stream.SendMsg(&request)
	}
	if err == nil {
		err = stream.CloseSend()
	}
	return stream, err
}

// find runs one server-streaming call to its end and returns the number of messages.
func find(ctx context.Context, conn *grpc.ClientConn, method string, request []byte) (int, error) {
	stream, err := open(ctx, conn, method, request)
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		var reply []byte
		if err := stream.RecvMsg(&reply); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, err
		}
		n++
	}
}

func emit(v interface{}) {
	json.NewEncoder(os.Stdout).Encode(v)
}

// load: closed-loop calls over several connections; counts outcomes and latencies.
func load(args []string) {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	addr := fs.String("addr", "", "host:port")
	conns := fs.Int("conns", 8, "connections")
	concurrency := fs.Int("concurrency", 4, "calls in flight per connection")
	duration := fs.Duration("duration", 3*time.Second, "how long")
	method := fs.String("method", "", "/package.Service/Method (server streaming, or unary with -unary)")
	unary := fs.Bool("unary", false, "the method is unary")
	requestFile := fs.String("request", "", "file with the request bytes")
	fs.Parse(args)
	request := readRequest(*requestFile)
	var mu sync.Mutex
	outcomes := map[string]int{}
	var latencies []time.Duration
	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	for c := 0; c < *conns; c++ {
		conn := dial(*addr)
		defer conn.Close()
		for i := 0; i < *concurrency; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var local []time.Duration
				localOutcomes := map[string]int{}
				for time.Now().Before(deadline) {
					start := time.Now()
					var err error
					if *unary {
						var reply []byte
						err = conn.Invoke(context.Background(), *method, &request, &reply)
					} else {
						_, err = find(context.Background(), conn, *method, request)
					}
					local = append(local, time.Since(start))
					localOutcomes[describe(err)]++
				}
				mu.Lock()
				latencies = append(latencies, local...)
				for k, v := range localOutcomes {
					outcomes[k] += v
				}
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[int(float64(len(latencies)-1)*p)].Microseconds()) / 1000
	}
	emit(map[string]interface{}{
		"calls": len(latencies), "outcomes": outcomes, "seconds": duration.Seconds(),
		"p50_ms": pct(0.5), "p99_ms": pct(0.99),
	})
}

// watches: n server-streaming calls on one connection; how many received `expect` messages.
func watches(args []string) {
	fs := flag.NewFlagSet("watches", flag.ExitOnError)
	addr := fs.String("addr", "", "host:port")
	n := fs.Int("n", 150, "streams on one connection")
	expect := fs.Int("expect", 1, "messages each stream must receive")
	timeout := fs.Duration("timeout", 20*time.Second, "how long to wait")
	method := fs.String("method", "", "/package.Service/Method (server streaming)")
	requestFile := fs.String("request", "", "file with the request bytes")
	warmup := fs.String("warmup", "", "file with a request for one call to run to its end first (the connection and its SETTINGS established)")
	stopAt := fs.Int("stop-at", 0, "once this many are served, wait a moment more and stop")
	fs.Parse(args)
	request := readRequest(*requestFile)
	conn := dial(*addr)
	defer conn.Close()
	if *warmup != "" {
		if _, err := find(context.Background(), conn, *method, readRequest(*warmup)); err != nil {
			emit(map[string]interface{}{"warmup": describe(err)})
			return
		}
	}
	if *stopAt == 0 {
		*stopAt = *n
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var served int64
	errors := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < *n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream, err := open(ctx, conn, *method, request)
			for got := 0; err == nil && got < *expect; got++ {
				var reply []byte
				err = stream.RecvMsg(&reply)
			}
			if err == nil {
				atomic.AddInt64(&served, 1)
				<-ctx.Done() // keep the stream open until every stream had its chance
				return
			}
			mu.Lock()
			errors[describe(err)]++
			mu.Unlock()
		}()
	}
	// Done when all are served or the time is up.
	go func() {
		for atomic.LoadInt64(&served) < int64(*stopAt) && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		if *stopAt < *n {
			time.Sleep(500 * time.Millisecond)
		}
		cancel()
	}()
	wg.Wait()
	emit(map[string]interface{}{"streams": *n, "served": served, "errors": errors})
}

// call: one unary call with extra metadata while a watch is open on the same connection;
// the call's status, and whether the watch was still open afterwards.
func call(args []string) {
	fs := flag.NewFlagSet("call", flag.ExitOnError)
	addr := fs.String("addr", "", "host:port")
	method := fs.String("method", "", "/package.Service/Method (unary)")
	requestFile := fs.String("request", "", "file with the request bytes")
	padding := fs.Int("metadata-bytes", 0, "size of an extra x-padding header")
	watchMethod := fs.String("watch-method", "", "a server-streaming method to keep open meanwhile")
	watchFile := fs.String("watch-request", "", "its request bytes")
	fs.Parse(args)
	conn := dial(*addr)
	defer conn.Close()
	result := map[string]interface{}{}
	var watch grpc.ClientStream
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if *watchMethod != "" {
		var err error
		watch, err = open(ctx, conn, *watchMethod, readRequest(*watchFile))
		if err == nil {
			// Open once the server answered with its headers (an empty watch sends no message).
			_, err = watch.Header()
		}
		result["watch_opened"] = describe(err)
	}
	request := readRequest(*requestFile)
	callCtx := ctx
	if *padding > 0 {
		callCtx = metadata.AppendToOutgoingContext(ctx, "x-padding", strings.Repeat("p", *padding))
	}
	var reply []byte
	result["call"] = describe(conn.Invoke(callCtx, *method, &request, &reply))
	if watch != nil {
		// A watch whose connection went away ends with an error within a moment.
		done := make(chan error, 1)
		go func() {
			var reply []byte
			done <- watch.RecvMsg(&reply)
		}()
		select {
		case err := <-done:
			result["watch_after"] = describe(err)
		case <-time.After(time.Second):
			result["watch_after"] = "open"
		}
	}
	emit(result)
}

// echoServer: upstream's own stack with nothing behind it, the floor a registry call is
// compared with: every unary method of any service returns the bytes it was sent.
func echoServer(args []string) {
	fs := flag.NewFlagSet("echo-server", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "host:port to listen on")
	fs.Parse(args)
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	server := grpc.NewServer(
		grpc.CustomCodec(raw{}),
		grpc.UnknownServiceHandler(func(_ interface{}, stream grpc.ServerStream) error {
			var request []byte
			if err := stream.RecvMsg(&request); err != nil {
				return err
			}
			return stream.SendMsg(&request)
		}),
	)
	emit(map[string]interface{}{"listening": listener.Addr().String()})
	server.Serve(listener)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: grpc-go-probe load|watches|call|echo-server [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "load":
		load(os.Args[2:])
	case "watches":
		watches(os.Args[2:])
	case "call":
		call(os.Args[2:])
	case "echo-server":
		echoServer(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}
