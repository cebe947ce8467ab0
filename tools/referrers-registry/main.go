// Command referrers-registry serves go-containerregistry's in-memory registry with the OCI 1.1
// referrers API (GET /v2/<name>/referrers/<digest>), for the tests of copying referrers. It
// stands in for zot, which the Go module proxy this project builds from does not serve.
//
//	referrers-registry --listen 127.0.0.1:0
//
// It listens on the given loopback address, prints the port it got on stdout, logs one line
// per request on stderr ("access: METHOD URI STATUS") and serves until it is killed.
//
// One difference from the package's handler: a manifest PUT whose body names a `subject` is
// answered with the `OCI-Subject` header, as the distribution spec (v1.1) asks of a registry
// that processed it into its referrers API. Without it a client must assume that the registry
// did not and maintain the `sha256-<hex>` tag schema, so the API side could not be tested.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on (port 0: any free one)")
	flag.Parse()

	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		fail("--listen %q: %v", *listen, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		fail("--listen %q: only loopback addresses are served", *listen)
	}
	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		fail("listen on %s: %v", *listen, err)
	}
	fmt.Println(listener.Addr().(*net.TCPAddr).Port)

	quiet := log.New(io.Discard, "", 0) // the access lines below replace the package's log
	handler := registry.New(registry.WithReferrersSupport(true), registry.Logger(quiet))
	if err := http.Serve(listener, accessLog(subjectHeader(handler))); err != nil {
		fail("serve: %v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "referrers-registry: "+format+"\n", args...)
	os.Exit(1)
}

// subjectHeader answers a manifest PUT that names a subject with `OCI-Subject: <digest>`.
func subjectHeader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			var doc struct {
				Subject *struct {
					Digest string `json:"digest"`
				} `json:"subject"`
			}
			if json.Unmarshal(body, &doc) == nil && doc.Subject != nil && doc.Subject.Digest != "" {
				w.Header().Set("OCI-Subject", doc.Subject.Digest)
			}
		}
		next.ServeHTTP(w, r)
	})
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// accessLog writes "access: METHOD URI STATUS" on stderr once a request was answered.
func accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		fmt.Fprintf(os.Stderr, "access: %s %s %d\n", r.Method, r.URL.RequestURI(), rec.status)
	})
}
