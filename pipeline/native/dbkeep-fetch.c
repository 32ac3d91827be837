/*
 * dbkeep-fetch HOST PORT SCHEME [--ca FILE | --extra-ca FILE]: one HTTP GET of a stored object, its body on standard
 * output. A restore reads its object from S3 through it (pipeline/native-fetch.ts): the body goes
 * from the socket to the decompressor without passing through Node, whose TLS stream made a
 * garbage-collected buffer of every 16 KiB record and whose hashing and writes to the pipe
 * cost the worker 1.5-1.6 s of CPU per 258 MB object, on the cores the restore's server and
 * tools needed (bench/README.md, fourteenth session).
 *
 * The request is signed by the worker (the AWS SDK: its endpoint, signature and SSE-C headers)
 * and comes on standard input as the whole request head, so no credential, signature or
 * customer key is ever on a command line. SCHEME is `https` or `http`. Over https the server's
 * certificate must name HOST and chain to the CAs of `--ca` alone when given (as Node's `ca`
 * option does), else to the system's CAs or those of `--extra-ca` (what Node's
 * NODE_EXTRA_CA_CERTS adds).
 *
 * File descriptor 3 gets the report: the response head exactly as received (status line and
 * headers, through the blank line); then, for a status other than 2xx, the response body (at
 * most 1 MiB: the server's error document); for 2xx, once every byte of the body was written to
 * standard output, `end <bytes> <sha256 in hex>` and a newline.
 *
 * Exit status: 0 when the exchange completed (whatever the HTTP status); 2 on bad usage; 3 when
 * the server could not be reached or the connection failed or ended early (worth a retry); 4 when
 * the server's certificate was refused; 5 when standard output was closed (the reader failed);
 * 6 for a response that is not HTTP/1.x, or a 2xx one without a Content-Length. Each failure has
 * one line on standard error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "write-all.h"

enum {
  EXIT_USAGE = 2,
  EXIT_CONNECTION = 3,
  EXIT_CERTIFICATE = 4,
  EXIT_OUTPUT = 5,
  EXIT_PROTOCOL = 6,
  REPORT_FD = 3,
  REQUEST_MAX = 64 * 1024,
  HEAD_MAX = 64 * 1024,
  ERROR_BODY_MAX = 1024 * 1024,
  /* Written to the pipe in blocks of this size: a TLS record is at most 16 KiB. */
  BLOCK_BYTES = 256 * 1024,
  CONNECT_TIMEOUT_MS = 10 * 1000,
  /* A server that sends nothing for this long is gone: the restore's retry starts over. */
  READ_TIMEOUT_S = 60,
  /* The pipe into the decompressor: a few blocks, so that neither side waits on the other's every write. */
  PIPE_BYTES = 1024 * 1024,
};

static int fail(int status, const char *format, ...) {
  va_list args;
  va_start(args, format);
  fputs("dbkeep-fetch: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  return status;
}

/* The connection: a socket, with TLS over it or not. */
struct connection {
  int fd;
  SSL *tls;
};

static ssize_t connection_read(struct connection *c, unsigned char *into, size_t length) {
  if (c->tls == NULL) {
    for (;;) {
      ssize_t got = recv(c->fd, into, length, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0 && errno == EAGAIN) errno = ETIMEDOUT; /* SO_RCVTIMEO */
      return got;
    }
  }
  size_t got = 0;
  errno = 0;
  ERR_clear_error();
  int ok = SSL_read_ex(c->tls, into, length, &got);
  if (ok == 1) return (ssize_t)got;
  int error = SSL_get_error(c->tls, 0);
  /* A close without close_notify ends the data as well: the length check decides. */
  if (error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && errno == 0)) return 0;
  if (error == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) return 0;
  if (errno == EAGAIN) errno = ETIMEDOUT; /* SO_RCVTIMEO */
  if (errno == 0) errno = EPROTO;
  return -1;
}

static int connection_write_all(struct connection *c, const unsigned char *bytes, size_t length) {
  while (length > 0) {
    size_t sent = 0;
    if (c->tls != NULL) {
      if (SSL_write_ex(c->tls, bytes, length, &sent) != 1) return -1;
    } else {
      ssize_t written = send(c->fd, bytes, length, MSG_NOSIGNAL);
      if (written < 0 && errno == EINTR) continue;
      if (written < 0) return -1;
      sent = (size_t)written;
    }
    bytes += sent;
    length -= sent;
  }
  return 0;
}

/* A connected socket to HOST:PORT, trying each address in turn, each within the connect timeout. */
static int connect_to(const char *host, const char *port) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *addresses = NULL;
  int resolved = getaddrinfo(host, port, &hints, &addresses);
  if (resolved != 0) {
    fail(EXIT_CONNECTION, "resolving %s: %s", host, gai_strerror(resolved));
    return -1;
  }
  int fd = -1;
  int last_error = 0;
  for (struct addrinfo *a = addresses; a != NULL && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      last_error = errno;
      continue;
    }
    int connected = connect(fd, a->ai_addr, a->ai_addrlen);
    if (connected < 0 && errno == EINPROGRESS) {
      struct pollfd p = {.fd = fd, .events = POLLOUT};
      int ready = poll(&p, 1, CONNECT_TIMEOUT_MS);
      int error = ETIMEDOUT;
      socklen_t size = sizeof error;
      if (ready == 1) getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size);
      connected = error == 0 ? 0 : -1;
      errno = error;
    }
    if (connected < 0) {
      last_error = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(addresses);
  if (fd < 0) {
    errno = last_error;
    fail(EXIT_CONNECTION, "connecting to %s:%s: %s", host, port, strerror(last_error));
    return -1;
  }
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  struct timeval timeout = {.tv_sec = READ_TIMEOUT_S};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  return fd;
}

/* Which CAs the server's certificate may chain to: one file alone, or the system's and maybe one file more. */
struct trust {
  const char *file;
  int with_system;
};

/* TLS over the socket, the server's certificate checked against the trusted CAs and HOST. */
static int start_tls(struct connection *c, const char *host, struct trust trust) {
  SSL_CTX *context = SSL_CTX_new(TLS_client_method());
  if (context == NULL) return fail(EXIT_CONNECTION, "starting TLS");
  SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
  SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
  if (trust.with_system && SSL_CTX_set_default_verify_paths(context) != 1) return fail(EXIT_CERTIFICATE, "loading the system's CA certificates");
  if (trust.file != NULL && SSL_CTX_load_verify_locations(context, trust.file, NULL) != 1)
    return fail(EXIT_CERTIFICATE, "loading the CA certificates of %s", trust.file);
  c->tls = SSL_new(context);
  if (c->tls == NULL || SSL_set_fd(c->tls, c->fd) != 1) return fail(EXIT_CONNECTION, "starting TLS");
  unsigned char address[sizeof(struct in6_addr)];
  int is_address = inet_pton(AF_INET, host, address) == 1 || inet_pton(AF_INET6, host, address) == 1;
  X509_VERIFY_PARAM *verify = SSL_get0_param(c->tls);
  if (is_address) {
    /* Node sends no server name for an address either; the certificate must list the address. */
    if (X509_VERIFY_PARAM_set1_ip_asc(verify, host) != 1) return fail(EXIT_CERTIFICATE, "checking the address %s", host);
  } else {
    SSL_set_tlsext_host_name(c->tls, host);
    X509_VERIFY_PARAM_set_hostflags(verify, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_host(verify, host, 0) != 1) return fail(EXIT_CERTIFICATE, "checking the name %s", host);
  }
  if (SSL_connect(c->tls) != 1) {
    long verified = SSL_get_verify_result(c->tls);
    if (verified != X509_V_OK)
      return fail(EXIT_CERTIFICATE, "the certificate of %s was refused: %s", host, X509_verify_cert_error_string(verified));
    char reason[256];
    ERR_error_string_n(ERR_peek_last_error(), reason, sizeof reason);
    return fail(EXIT_CONNECTION, "TLS with %s failed: %s", host, ERR_peek_last_error() ? reason : strerror(errno ? errno : EPROTO));
  }
  return 0;
}

static int read_request(unsigned char *request, size_t *length) {
  *length = 0;
  for (;;) {
    if (*length == REQUEST_MAX) return fail(EXIT_USAGE, "the request on standard input is over %d bytes", REQUEST_MAX);
    ssize_t got = read(STDIN_FILENO, request + *length, REQUEST_MAX - *length);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return fail(EXIT_USAGE, "reading the request: %s", strerror(errno));
    if (got == 0) break;
    *length += (size_t)got;
  }
  if (*length < 4 || memcmp(request + *length - 4, "\r\n\r\n", 4) != 0)
    return fail(EXIT_USAGE, "standard input must be a request head ending with an empty line");
  return 0;
}

/* The value of header NAME in HEAD (status line and headers, NUL-terminated), or NULL. */
static const char *header(const char *head, const char *name) {
  size_t name_length = strlen(name);
  for (const char *line = strstr(head, "\r\n"); line != NULL; line = strstr(line, "\r\n")) {
    line += 2;
    if (strncasecmp(line, name, name_length) == 0 && line[name_length] == ':') {
      const char *value = line + name_length + 1;
      while (*value == ' ' || *value == '\t') value++;
      return value;
    }
  }
  return NULL;
}

static unsigned char block[BLOCK_BYTES];

int main(int argc, char **argv) {
  struct trust trust = {.file = NULL, .with_system = 1};
  if (argc == 6 && (strcmp(argv[4], "--ca") == 0 || strcmp(argv[4], "--extra-ca") == 0)) {
    trust.file = argv[5];
    trust.with_system = strcmp(argv[4], "--extra-ca") == 0;
  }
  if ((argc != 4 && trust.file == NULL) || (strcmp(argv[3], "https") != 0 && strcmp(argv[3], "http") != 0)) {
    fprintf(stderr, "usage: dbkeep-fetch HOST PORT https|http [--ca FILE | --extra-ca FILE] < request-head 3> report > body\n");
    return EXIT_USAGE;
  }
  signal(SIGPIPE, SIG_IGN);
  if (fcntl(REPORT_FD, F_GETFD) < 0) return fail(EXIT_USAGE, "file descriptor 3 (the report) is not open");
  const char *host = argv[1];
  static unsigned char request[REQUEST_MAX];
  size_t request_length = 0;
  int status = read_request(request, &request_length);
  if (status != 0) return status;

  struct connection c = {.fd = connect_to(host, argv[2]), .tls = NULL};
  if (c.fd < 0) return EXIT_CONNECTION;
  if (strcmp(argv[3], "https") == 0 && (status = start_tls(&c, host, trust)) != 0) return status;
  if (connection_write_all(&c, request, request_length) < 0)
    return fail(EXIT_CONNECTION, "sending the request: %s", strerror(errno ? errno : EPROTO));

  /* The head, and whatever of the body came with it. */
  static char head[HEAD_MAX + 1];
  size_t have = 0;
  char *head_end = NULL;
  while (head_end == NULL) {
    if (have == HEAD_MAX) return fail(EXIT_PROTOCOL, "the response head is over %d bytes", HEAD_MAX);
    ssize_t got = connection_read(&c, (unsigned char *)head + have, HEAD_MAX - have);
    if (got < 0) return fail(EXIT_CONNECTION, "reading the response: %s", strerror(errno));
    if (got == 0) return fail(EXIT_CONNECTION, "the server closed the connection before its response");
    have += (size_t)got;
    head[have] = '\0';
    head_end = strstr(head, "\r\n\r\n");
  }
  size_t head_length = (size_t)(head_end + 4 - head);
  int http_status = 0;
  if (sscanf(head, "HTTP/1.%*1d %3d", &http_status) != 1) return fail(EXIT_PROTOCOL, "the response is not HTTP/1.x");
  if (write_all(REPORT_FD, (unsigned char *)head, head_length) < 0) return fail(EXIT_OUTPUT, "writing the report: %s", strerror(errno));
  head[head_length - 2] = '\0'; /* header() looks at the head only */
  const char *length_value = header(head, "Content-Length");
  int has_length = length_value != NULL && header(head, "Transfer-Encoding") == NULL;
  /* Without a length an error document ends with the connection (the request asked for its close). */
  unsigned long long expected = ULLONG_MAX;
  if (has_length) {
    char *length_end = NULL;
    errno = 0;
    expected = strtoull(length_value, &length_end, 10);
    if (errno != 0 || length_end == length_value || (*length_end != '\r' && *length_end != ' '))
      return fail(EXIT_PROTOCOL, "the response's Content-Length is not a number");
  }

  size_t early = have - head_length;
  if (early > expected) early = (size_t)expected;
  if (http_status < 200 || http_status > 299) {
    /* The server's error document, for the worker to read: it is small, and reading stops at the cap. */
    unsigned long long wanted = expected < ERROR_BODY_MAX ? expected : ERROR_BODY_MAX;
    unsigned long long sent = early;
    if (write_all(REPORT_FD, (unsigned char *)head + head_length, early) < 0) return fail(EXIT_OUTPUT, "writing the report: %s", strerror(errno));
    while (sent < wanted) {
      size_t chunk = wanted - sent < BLOCK_BYTES ? (size_t)(wanted - sent) : BLOCK_BYTES;
      ssize_t got = connection_read(&c, block, chunk);
      if (got <= 0) break; /* the status already says what happened */
      if (write_all(REPORT_FD, block, (size_t)got) < 0) return fail(EXIT_OUTPUT, "writing the report: %s", strerror(errno));
      sent += (unsigned long long)got;
    }
    return 0;
  }
  if (!has_length) return fail(EXIT_PROTOCOL, "the response has no Content-Length (status %d)", http_status);

  (void)fcntl(STDOUT_FILENO, F_SETPIPE_SZ, PIPE_BYTES); /* only a pipe has a size; a file needs none */
  EVP_MD_CTX *sha256 = EVP_MD_CTX_new();
  if (sha256 == NULL || EVP_DigestInit_ex(sha256, EVP_sha256(), NULL) != 1) return fail(EXIT_USAGE, "starting SHA-256");
  memcpy(block, head + head_length, early);
  size_t filled = early;
  unsigned long long received = early;
  for (;;) {
    /* Fill a block from the socket (a TLS read gives one record), then hash and write it. */
    while (filled < BLOCK_BYTES && received < expected) {
      size_t room = BLOCK_BYTES - filled;
      if (expected - received < room) room = (size_t)(expected - received);
      ssize_t got = connection_read(&c, block + filled, room);
      if (got < 0) return fail(EXIT_CONNECTION, "reading the body after %llu of %llu bytes: %s", received, expected, strerror(errno));
      if (got == 0) return fail(EXIT_CONNECTION, "the server closed the connection after %llu of %llu bytes", received, expected);
      filled += (size_t)got;
      received += (unsigned long long)got;
    }
    if (filled == 0) break;
    if (EVP_DigestUpdate(sha256, block, filled) != 1) return fail(EXIT_USAGE, "hashing");
    if (write_all(STDOUT_FILENO, block, filled) < 0) return fail(EXIT_OUTPUT, "writing the body: %s", strerror(errno));
    filled = 0;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  if (EVP_DigestFinal_ex(sha256, digest, &digest_length) != 1 || digest_length != 32) return fail(EXIT_USAGE, "finishing SHA-256");
  char end[128];
  int end_length = snprintf(end, sizeof end, "end %llu ", received);
  for (unsigned i = 0; i < 32; i++) end_length += snprintf(end + end_length, sizeof end - (size_t)end_length, "%02x", digest[i]);
  end[end_length++] = '\n';
  if (write_all(REPORT_FD, (unsigned char *)end, (size_t)end_length) < 0) return fail(EXIT_OUTPUT, "writing the report: %s", strerror(errno));
  return 0;
}
