/*
 * dbkeep-sink FILE: standard input into FILE (created; it must not exist), and on standard output
 * the SHA-256 of those bytes and their count, as `<64 hex digits> <count>` and a newline. It
 * ends a backup's pipeline when the repository is a directory (pipeline/stream-pipelines.ts):
 * the compressed stream then goes from zstd to the file without passing through Node, which
 * spent 1.5-2.0 s of CPU on each physical backup of the bench (326 MB stored) hashing it,
 * gathering its writes and collecting the garbage of its chunks; the worker now spends 0.13 s
 * (bench/README.md). Committing the file (fsync, rename) stays with storage/filesystem-storage.ts;
 * so that its fsync finds little left to write, the sink starts the writeback of every
 * WRITEBACK_BYTES it wrote (sync_file_range(2), which does not wait for the disk) instead of
 * leaving the whole object in the page cache until then.
 *
 * Standard input is a pipe or a socket, read blocking even when handed over non-blocking.
 *
 * Exit status: 0 once standard input ended and every byte was written to FILE; 1 with a line on
 * standard error when reading, hashing or writing failed; 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "batched-input.h"
#include "write-all.h"

enum { BUFFER_BYTES = 1 << 20, WRITEBACK_BYTES = 8 << 20 };

static unsigned char buffer[BUFFER_BYTES];

static int failed(const char *what) {
  fprintf(stderr, "dbkeep-sink: %s: %s\n", what, errno ? strerror(errno) : "failed");
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: dbkeep-sink FILE < input\n");
    return 2;
  }
  if (make_blocking(STDIN_FILENO) < 0) return failed("standard input");
  int file = open(argv[1], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (file < 0) return failed(argv[1]);
  EVP_MD_CTX *sha256 = EVP_MD_CTX_new();
  errno = 0;
  if (sha256 == NULL || EVP_DigestInit_ex(sha256, EVP_sha256(), NULL) != 1) return failed("starting SHA-256");
  unsigned long long count = 0;
  unsigned long long written_back = 0;
  for (;;) {
    ssize_t got = read(STDIN_FILENO, buffer, BUFFER_BYTES);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return failed("reading standard input");
    if (got == 0) break;
    errno = 0;
    if (EVP_DigestUpdate(sha256, buffer, (size_t)got) != 1) return failed("hashing");
    if (write_all(file, buffer, (size_t)got) < 0) return failed(argv[1]);
    count += (unsigned long long)got;
    if (count - written_back >= WRITEBACK_BYTES) {
      /* Only a hint: where the filesystem refuses it, the commit's fsync writes everything. */
      (void)sync_file_range(file, (off_t)written_back, (off_t)(count - written_back), SYNC_FILE_RANGE_WRITE);
      written_back = count;
    }
  }
  if (close(file) < 0) return failed(argv[1]);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  errno = 0;
  if (EVP_DigestFinal_ex(sha256, digest, &length) != 1 || length != 32) return failed("finishing SHA-256");
  EVP_MD_CTX_free(sha256);
  for (unsigned int i = 0; i < length; i++) printf("%02x", digest[i]);
  printf(" %llu\n", count);
  return fflush(stdout) == 0 ? 0 : failed("standard output");
}
