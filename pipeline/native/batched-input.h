/*
 * Standard input, taken in batches: a dump tool writes its output a few KiB at a time, and the
 * reader of a socket or pipe wakes for every write. batched-input.c moves standard input into a
 * pipe of the program's own (splice(2)) and naps briefly after a small batch, so that the writer
 * fills its buffer rather than waking the reader. Used by dbkeep-tee and dbkeep-relay.
 */
#ifndef DBKEEP_BATCHED_INPUT_H
#define DBKEEP_BATCHED_INPUT_H

#include <sys/types.h>

enum { BATCHED_INPUT_PIPE_BYTES = 1 << 20 };

struct batched_input {
  /* The pipe standard input is moved into; the caller reads or splices from staging[0]. */
  int staging[2];
  /* How many bytes the last batch had: a small one is followed by a nap before the next. */
  ssize_t last;
};

/* Clears O_NONBLOCK on `fd` (splice(2) and tee(2) would fail with EAGAIN): 0, or -1 with errno. */
int make_blocking(int fd);

/* Makes standard input blocking and the staging pipe (1 MiB where allowed). 0, or -1 with errno. */
int batched_input_open(struct batched_input *input);

/*
 * Waits for the next batch and moves it into the staging pipe, which must be empty: how many
 * bytes, 0 at the end of input, -1 with errno on failure.
 */
ssize_t batched_input_take(struct batched_input *input);

#endif
