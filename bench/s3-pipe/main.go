// s3-pipe: standard input into one S3 object, as `mc pipe` does (it is built on the same
// library, minio-go). It is the bench's bare uploader: `mariadb-backup | zstd | s3-pipe` is the
// bare pipeline to MinIO that dbkeep's backups to MinIO are measured against (bench/README.md).
//
// Usage: s3-pipe ENDPOINT_URL BUCKET KEY
//
// Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, never from argv; an https
// endpoint's CA from S3_PIPE_CA_FILE (the system's CAs otherwise). Parts are 8 MiB with two in
// flight and an unsigned payload over TLS, as dbkeep sends its first parts; nothing hashes the
// stream but the CRC32C minio-go sends with each part, so the uploader is about as lean as a
// client gets.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const (
	partBytes     = 8 << 20
	partsInFlight = 2
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "s3-pipe: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: s3-pipe ENDPOINT_URL BUCKET KEY")
	}
	endpoint, err := url.Parse(args[0])
	if err != nil || (endpoint.Scheme != "http" && endpoint.Scheme != "https") || endpoint.Host == "" {
		return fmt.Errorf("ENDPOINT_URL must be http(s)://host[:port], got %q", args[0])
	}
	accessKey, secretKey := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if accessKey == "" || secretKey == "" {
		return fmt.Errorf("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set")
	}
	transport, err := transportTrusting(os.Getenv("S3_PIPE_CA_FILE"))
	if err != nil {
		return err
	}
	client, err := minio.New(endpoint.Host, &minio.Options{
		Creds:     credentials.NewStaticV4(accessKey, secretKey, ""),
		Secure:    endpoint.Scheme == "https",
		Transport: transport,
	})
	if err != nil {
		return err
	}
	_, err = client.PutObject(context.Background(), args[1], args[2], os.Stdin, -1, minio.PutObjectOptions{
		PartSize:              partBytes,
		ConcurrentStreamParts: true,
		NumThreads:            partsInFlight,
		DisableContentSha256:  endpoint.Scheme == "https",
	})
	return err
}

func transportTrusting(caFile string) (http.RoundTripper, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if caFile == "" {
		return transport, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("S3_PIPE_CA_FILE %s holds no PEM certificate", caFile)
	}
	transport.TLSClientConfig = &tls.Config{RootCAs: roots}
	return transport, nil
}
