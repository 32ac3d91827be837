/* See write-all.h. */
#include "write-all.h"

#include <errno.h>
#include <unistd.h>

int write_all(int fd, const void *bytes, size_t length) {
  const unsigned char *next = bytes;
  while (length > 0) {
    ssize_t written = write(fd, next, length);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return -1;
    next += written;
    length -= (size_t)written;
  }
  return 0;
}
