/*
 * dbkeep-tee FIFO: what coreutils' `tee FIFO` does for a dump that a restore drill fingerprints
 * (pipeline/dump-copy.ts), without copying the bytes through user space. Standard input goes to
 * FIFO (zstd reads it by name) and the same bytes to standard output (a second FIFO Node reads).
 *
 * coreutils' tee reads and writes 8 KiB at a time: about 1 s of CPU per GiB, on the two cores the
 * dump tool, zstd and the upload share. tee(2) duplicates a pipe's pages into another pipe and
 * splice(2) moves them, so the copy costs next to nothing. Both outputs get 1 MiB pipes (256
 * slots; a slot spliced from a socket can hold more than a page): Node may fall behind the dump
 * by that much before the dump waits for it.
 *
 * Node hands a tool's output over as a Unix socket (libuv's stdio pipes are socketpairs), which
 * tee(2) refuses: a socket is first spliced into a pipe of this program's own.
 *
 * Standard output and FIFO must be pipes (tee(2) writes only into pipes); standard input is a
 * pipe or a socket, read blocking even when it was handed over non-blocking.
 *
 * Exit status: 0 once standard input ended and every byte went to both outputs; 1 with a line on
 * standard error when reading or writing failed (EPIPE when a reader went away); 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { PIPE_BYTES = 1 << 20 };

static int failed(const char *what) {
  fprintf(stderr, "dbkeep-tee: %s: %s\n", what, strerror(errno));
  return 1;
}

/*
 * Duplicates up to `limit` bytes at the head of the pipe `from` into standard output (the copy),
 * then moves the same bytes into `out`. Returns how many, 0 at the end of input, -1 on failure.
 * tee(2) waits until `from` has bytes and the copy has room.
 */
static ssize_t duplicate(int from, int out, size_t limit) {
  ssize_t teed;
  do teed = tee(from, STDOUT_FILENO, limit, 0);
  while (teed < 0 && errno == EINTR);
  if (teed < 0) return failed("writing the copy"), -1;
  for (size_t left = (size_t)teed; left > 0;) {
    ssize_t moved = splice(from, NULL, out, NULL, left, SPLICE_F_MOVE);
    if (moved < 0) {
      if (errno == EINTR) continue;
      return failed("writing the output"), -1;
    }
    left -= (size_t)moved;
  }
  return teed;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: dbkeep-tee FIFO < input > copy\n");
    return 2;
  }
  int out = open(argv[1], O_WRONLY | O_CLOEXEC);
  if (out < 0) return failed(argv[1]);
  /* Best effort: where pipe-max-size is smaller, the pipes keep their 64 KiB. */
  fcntl(out, F_SETPIPE_SZ, PIPE_BYTES);
  fcntl(STDOUT_FILENO, F_SETPIPE_SZ, PIPE_BYTES);

  struct stat input;
  if (fstat(STDIN_FILENO, &input) < 0) return failed("standard input");
  int flags = fcntl(STDIN_FILENO, F_GETFL);
  if (flags < 0 || fcntl(STDIN_FILENO, F_SETFL, flags & ~O_NONBLOCK) < 0) return failed("standard input");
  if (S_ISFIFO(input.st_mode)) {
    for (;;) {
      ssize_t bytes = duplicate(STDIN_FILENO, out, PIPE_BYTES);
      if (bytes <= 0) return bytes < 0;
    }
  }

  int staging[2];
  if (pipe2(staging, O_CLOEXEC) < 0) return failed("a pipe");
  fcntl(staging[1], F_SETPIPE_SZ, PIPE_BYTES);
  for (;;) {
    ssize_t taken;
    do taken = splice(STDIN_FILENO, NULL, staging[1], NULL, PIPE_BYTES, SPLICE_F_MOVE);
    while (taken < 0 && errno == EINTR);
    if (taken < 0) return failed("reading standard input");
    if (taken == 0) return 0;
    for (size_t left = (size_t)taken; left > 0;) {
      /* Never 0: this program holds the staging pipe's write end, so tee(2) waits instead. */
      ssize_t bytes = duplicate(staging[0], out, left);
      if (bytes <= 0) return 1;
      left -= (size_t)bytes;
    }
  }
}
