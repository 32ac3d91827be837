/*
 * dbkeep-tee FIFO: puts a logical dump into FIFO (zstd reads it by name) and, on standard output
 * (a second FIFO Node reads), the records of its fingerprint scan (dump-scan.c): the dump's
 * bytes that are not INSERT statements, and for each statement its table, rows and, at the end,
 * each table's hash. The restore drill's fingerprint (pipeline/dump-scan.ts) is read from them;
 * the statements, nearly all of a dump's bytes, never pass through Node.
 *
 * The dump goes to FIFO without passing through user space: tee(2) duplicates a pipe's pages
 * into a pipe of this program's own, from which the scan reads them, and splice(2) moves the
 * originals into FIFO. (coreutils' tee, which it replaced, spent about 1 s of CPU per GiB on 8 KiB
 * reads and writes.) FIFO and standard output get 1 MiB pipes (256 slots; a slot spliced from a
 * socket can hold more than a page): zstd may run that far ahead of the scan, and the scan that
 * far ahead of Node.
 *
 * Node hands a tool's output over as a Unix socket (libuv's stdio pipes are socketpairs), which
 * tee(2) refuses: a socket is first spliced into a pipe of this program's own, in batches
 * (batched-input.c).
 *
 * FIFO must be a pipe (splice(2) writes it); standard input is a pipe or a socket, read blocking
 * even when it was handed over non-blocking.
 *
 * Exit status: 0 once standard input ended, every byte went to FIFO and the scan's records were
 * written; 1 with a line on standard error when reading or writing failed (EPIPE when a reader
 * went away); 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batched-input.h"
#include "dump-scan.h"

enum { PIPE_BYTES = 1 << 20 };

static int failed(const char *what) {
  fprintf(stderr, "dbkeep-tee: %s: %s\n", what, strerror(errno));
  return 1;
}

struct scanning {
  struct dump_scan *scan;
  /* The pipe tee(2) duplicates the dump into, drained into `buffer` after each duplicate. */
  int copy[2];
  unsigned char buffer[PIPE_BYTES];
};

/* Reads the `length` bytes just duplicated into the copy and scans them. */
static int scan_copy(struct scanning *scanning, size_t length) {
  while (length > 0) {
    ssize_t got = read(scanning->copy[0], scanning->buffer, length < PIPE_BYTES ? length : PIPE_BYTES);
    if (got < 0 && errno == EINTR) continue;
    if (got == 0) errno = EIO; /* never: the bytes were just put there */
    if (got <= 0) return failed("reading the copy"), -1;
    if (dump_scan_push(scanning->scan, scanning->buffer, (size_t)got) < 0) return failed("writing the scan"), -1;
    length -= (size_t)got;
  }
  return 0;
}

/*
 * Duplicates up to `limit` bytes at the head of the pipe `from` into the copy, moves the same
 * bytes into `out`, then scans the copy. Returns how many, 0 at the end of input, -1 on failure.
 * tee(2) waits until `from` has bytes; the copy is empty each time.
 */
static ssize_t duplicate(struct scanning *scanning, int from, int out, size_t limit) {
  ssize_t teed;
  do teed = tee(from, scanning->copy[1], limit, 0);
  while (teed < 0 && errno == EINTR);
  if (teed < 0) return failed("copying the input"), -1;
  for (size_t left = (size_t)teed; left > 0;) {
    ssize_t moved = splice(from, NULL, out, NULL, left, SPLICE_F_MOVE);
    if (moved < 0) {
      if (errno == EINTR) continue;
      return failed("writing the output"), -1;
    }
    left -= (size_t)moved;
  }
  return scan_copy(scanning, (size_t)teed) < 0 ? -1 : teed;
}

static int finish(struct scanning *scanning) {
  return dump_scan_finish(scanning->scan) < 0 ? failed("writing the scan") : 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: dbkeep-tee FIFO < dump > scan-records\n");
    return 2;
  }
  int out = open(argv[1], O_WRONLY | O_CLOEXEC);
  if (out < 0) return failed(argv[1]);
  /* Best effort: where pipe-max-size is smaller, the pipes keep their 64 KiB. */
  fcntl(out, F_SETPIPE_SZ, PIPE_BYTES);
  fcntl(STDOUT_FILENO, F_SETPIPE_SZ, PIPE_BYTES);
  static struct scanning scanning;
  if (!(scanning.scan = dump_scan_new(STDOUT_FILENO))) return failed("memory");
  if (pipe2(scanning.copy, O_CLOEXEC) < 0) return failed("a pipe");
  fcntl(scanning.copy[1], F_SETPIPE_SZ, PIPE_BYTES);

  struct stat kind;
  if (fstat(STDIN_FILENO, &kind) < 0) return failed("standard input");
  if (S_ISFIFO(kind.st_mode)) {
    if (make_blocking(STDIN_FILENO) < 0) return failed("standard input");
    for (;;) {
      ssize_t bytes = duplicate(&scanning, STDIN_FILENO, out, PIPE_BYTES);
      if (bytes < 0) return 1;
      if (bytes == 0) return finish(&scanning);
    }
  }

  /* A socket: moved into a pipe of this program's own first, in batches. */
  struct batched_input input;
  if (batched_input_open(&input) < 0) return failed("standard input");
  for (;;) {
    ssize_t taken = batched_input_take(&input);
    if (taken < 0) return failed("reading standard input");
    if (taken == 0) return finish(&scanning);
    for (size_t left = (size_t)taken; left > 0;) {
      /* Never 0: this program holds the staging pipe's write end, so tee(2) waits instead. */
      ssize_t bytes = duplicate(&scanning, input.staging[0], out, left);
      if (bytes <= 0) return 1;
      left -= (size_t)bytes;
    }
  }
}
