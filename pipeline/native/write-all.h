/*
 * Writes of a whole buffer, for the native tools that write to files, pipes and sockets
 * (dbkeep-sink, dbkeep-stage, dbkeep-fetch): write(2) may take part of it, or be interrupted.
 */
#ifndef DBKEEP_WRITE_ALL_H
#define DBKEEP_WRITE_ALL_H

#include <stddef.h>

/* Writes all `length` bytes to `fd`, retrying short and interrupted writes: 0, or -1 with errno. */
int write_all(int fd, const void *bytes, size_t length);

#endif
