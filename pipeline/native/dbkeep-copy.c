/*
 * dbkeep-copy: copies the files named on standard input, each as `SOURCE\0TARGET\0`, and writes
 * a line with each file's byte count on standard output once that file is copied. It
 * copies a replica's complete volume into another replica's (pipeline/directory-copy.ts), which
 * creates the directories and links itself.
 *
 * Each TARGET is created (it must not exist) with SOURCE's permission bits. Where the filesystem
 * shares extents (XFS, Btrfs) it is a clone. Elsewhere the bytes are written with O_DIRECT, in
 * 8 MiB blocks, and only a last partial block through the page cache: a replica's copy
 * is not read back by dbkeep, so it has no business in the host's page cache. On the bench's
 * machine two copies at once of a 1.2 GB data directory (211 files) took 0.9-1.0 s this way,
 * against 1.5-3.5 s through the page cache, whose fresh pages the VM's host had to hand back
 * first (bench/README.md, tenth session). A filesystem that refuses O_DIRECT gets buffered
 * writes. Syncing is the caller's: a replica volume, copied or not, is synced whole before it is
 * marked complete (pipeline/directory-sync.ts).
 *
 * Exit status: 0 once every file is copied; 1 with a line on standard error naming the file when
 * opening, reading or writing failed; 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { BLOCK_BYTES = 8 << 20, ALIGNMENT = 4096 };

static int failed(const char *what) {
  fprintf(stderr, "dbkeep-copy: %s: %s\n", what, errno ? strerror(errno) : "failed");
  return 1;
}

static int set_direct(int fd, int on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -1;
  return fcntl(fd, F_SETFL, on ? flags | O_DIRECT : flags & ~O_DIRECT);
}

/**
 * Writes all of `bytes`. With O_DIRECT on, a write the device refuses for its alignment (EINVAL)
 * turns O_DIRECT off for the rest of the file instead of failing the copy.
 */
static int write_all(int fd, const unsigned char *bytes, size_t length, int *direct) {
  while (length > 0) {
    ssize_t written = write(fd, bytes, length);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0 && errno == EINVAL && *direct) {
      if (set_direct(fd, 0) < 0) return -1;
      *direct = 0;
      continue;
    }
    if (written < 0) return -1;
    bytes += written;
    length -= (size_t)written;
  }
  return 0;
}

/**
 * Copies `size` bytes, 8 MiB at a time, each block written from a mapping of the source: the
 * kernel writes a block straight from the source's page-cache pages (where replica 0 just wrote
 * them), with no copy into a buffer of ours (0.15-0.2 s less for two copies of a 1.2 GB volume at
 * once than read(2) into an aligned buffer).
 */
static int copy_bytes(int from, int to, size_t size, const char *source, const char *target, const char **culprit) {
  int direct = set_direct(to, 1) == 0;
  for (size_t offset = 0; offset < size; offset += BLOCK_BYTES) {
    size_t length = size - offset < BLOCK_BYTES ? size - offset : BLOCK_BYTES;
    *culprit = source;
    unsigned char *block = mmap(NULL, length, PROT_READ, MAP_SHARED, from, (off_t)offset);
    if (block == MAP_FAILED) return -1;
    *culprit = target;
    size_t aligned = length - length % ALIGNMENT;
    int written = write_all(to, block, aligned, &direct);
    if (written == 0 && aligned < length) {
      // The file's last partial block: O_DIRECT takes whole blocks only.
      if (direct && set_direct(to, 0) < 0) written = -1;
      direct = 0;
      if (written == 0) written = write_all(to, block + aligned, length - aligned, &direct);
    }
    int saved = errno;
    munmap(block, length);
    errno = saved;
    if (written < 0) return -1;
  }
  return 0;
}

/** Copies one file; 0, or -1 with errno set and `*culprit` the path it concerns. */
static int copy_file(const char *source, const char *target, unsigned long long *bytes, const char **culprit) {
  *culprit = source;
  int from = open(source, O_RDONLY | O_CLOEXEC);
  if (from < 0) return -1;
  struct stat status;
  if (fstat(from, &status) < 0) return -1;
  *culprit = target;
  int to = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (to < 0) return -1;
  if (ioctl(to, FICLONE, from) < 0) {
    posix_fadvise(from, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (copy_bytes(from, to, (size_t)status.st_size, source, target, culprit) < 0) return -1;
  }
  if (fchmod(to, status.st_mode & 07777) < 0 || close(to) < 0) return -1;
  close(from);
  *bytes = (unsigned long long)status.st_size;
  return 0;
}

/** Reads one NUL-terminated name from standard input; NULL at the end (or on a read error, `errno` set). */
static char *read_name(void) {
  char *name = NULL;
  size_t capacity = 0;
  errno = 0;
  ssize_t length = getdelim(&name, &capacity, '\0', stdin);
  if (length <= 0) {
    free(name);
    return NULL;
  }
  return name;
}

int main(int argc, char **argv) {
  (void)argv;
  if (argc != 1) {
    fprintf(stderr, "usage: dbkeep-copy < SOURCE\\0TARGET\\0...\n");
    return 2;
  }
  for (;;) {
    char *source = read_name();
    if (source == NULL) {
      if (errno != 0) return failed("reading standard input");
      break;
    }
    char *target = read_name();
    if (target == NULL) {
      errno = EINVAL;
      return failed("standard input ends after a source without its target");
    }
    const char *culprit;
    unsigned long long bytes;
    if (copy_file(source, target, &bytes, &culprit) < 0) return failed(culprit);
    printf("%llu\n", bytes);
    if (fflush(stdout) != 0) return failed("standard output");
    free(source);
    free(target);
  }
  return 0;
}
