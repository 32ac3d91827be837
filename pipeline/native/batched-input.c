/*
 * See batched-input.h. The numbers: mariadb-dump's 1 GiB woke its reader 170,000 times (1.8 s of
 * system CPU in the reader's splices and reads; the writer's and zstd's system CPU rose with
 * it). A socket's low-water mark (SO_RCVLOWAT) cut the reads but not the wakeups. A nap of half a
 * millisecond after a batch under 64 KiB lets the writer fill the socket's buffer (208 KiB by
 * default) instead: 19,500 wakeups, 0.55 s. A writer faster than 400 MB/s is read without naps.
 */
#define _GNU_SOURCE
#include "batched-input.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

enum { SMALL_BATCH_BYTES = 64 * 1024 };

int make_blocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

int batched_input_open(struct batched_input *input) {
  input->last = SMALL_BATCH_BYTES;
  if (make_blocking(STDIN_FILENO) < 0) return -1;
  if (pipe2(input->staging, O_CLOEXEC) < 0) return -1;
  /* Best effort: where pipe-max-size is smaller, the pipe keeps its 64 KiB. */
  fcntl(input->staging[1], F_SETPIPE_SZ, BATCHED_INPUT_PIPE_BYTES);
  return 0;
}

ssize_t batched_input_take(struct batched_input *input) {
  if (input->last < SMALL_BATCH_BYTES) {
    struct timespec nap = {.tv_sec = 0, .tv_nsec = 500 * 1000};
    nanosleep(&nap, NULL);
  }
  ssize_t taken;
  do taken = splice(STDIN_FILENO, NULL, input->staging[1], NULL, BATCHED_INPUT_PIPE_BYTES, SPLICE_F_MOVE);
  while (taken < 0 && errno == EINTR);
  input->last = taken;
  return taken;
}
