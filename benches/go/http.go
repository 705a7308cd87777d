package main

// http: Ergo's web meta under keep-alive load.
//
// A process starts a pool of NumCPU WebWorkers (each answers GET with
// "hello"), a web handler meta (meta.CreateWebHandler) in front of the pool,
// and a web server meta (meta.CreateWebServer) on 127.0.0.1 routing "/" to the
// handler: the setup of Ergo's documentation. The load generator is the Rust
// example loadgen (--proto http): 100 keep-alive connections, one request in
// flight each. Reported: requests/s, p99 in us, and this process's RSS growth
// per connection once they are up.

import (
	"net/http"

	"ergo.services/ergo/act"
	"ergo.services/ergo/gen"
	"ergo.services/ergo/meta"
)

type helloWorker struct {
	act.WebWorker
}

func newHelloWorker() gen.ProcessBehavior { return &helloWorker{} }

func (w *helloWorker) HandleGet(from gen.PID, writer http.ResponseWriter, request *http.Request) error {
	writer.Header().Set("Content-Type", "text/plain")
	writer.Write([]byte("hello"))
	return nil
}

type helloPool struct {
	act.Pool
}

func newHelloPool() gen.ProcessBehavior { return &helloPool{} }

func (p *helloPool) Init(args ...any) (act.PoolOptions, error) {
	return act.PoolOptions{PoolSize: int64(args[0].(int)), WorkerFactory: newHelloWorker}, nil
}

type helloServer struct {
	act.Actor
}

func newHelloServer() gen.ProcessBehavior { return &helloServer{} }

func (s *helloServer) Init(args ...any) error {
	port := args[0].(int)
	workers := args[1].(int)
	ready := args[2].(chan error)
	if _, err := s.SpawnRegister("hellopool", newHelloPool, gen.ProcessOptions{}, workers); err != nil {
		return err
	}
	handler := meta.CreateWebHandler(meta.WebHandlerOptions{Worker: "hellopool"})
	if _, err := s.SpawnMeta(handler, gen.MetaOptions{}); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", handler)
	server, err := meta.CreateWebServer(meta.WebServerOptions{Host: "127.0.0.1", Port: uint16(port), Handler: mux})
	if err != nil {
		return err
	}
	if _, err := s.SpawnMeta(server, gen.MetaOptions{}); err != nil {
		return err
	}
	close(ready)
	return nil
}

func runHTTP(args []string) error {
	fs, c := newFlags("http")
	conns := fs.Int("conns", 100, "keep-alive connections")
	seconds := fs.Int("seconds", 5, "seconds of load")
	fs.Parse(args)
	node, port, err := startServer("http", c, newHelloServer)
	if err != nil {
		return err
	}
	defer node.Stop()
	loadgen, err := loadgenPath()
	if err != nil {
		return err
	}
	return runLoad(loadgen, "http", "http", port, *conns, *seconds)
}
