/**
 * Node flags for every process that runs a dbkeep worker (`dbkeep worker`, `dbkeep
 * replica-worker`): the dev stack's, the replica Jobs', the image's ENTRYPOINT
 * (deploy/Dockerfile, which repeats them), the benchmarks' and the tests'.
 *
 * `--max-semi-space-size=2` (MiB; V8's default grows to 16): an upload's part buffers and the
 * chunks streamed through the worker die young, and a small young generation collects them at
 * once instead of letting them pile up to the next scavenge. `npm run bench:memory`, one 1 GiB
 * backup: peak RSS 206 MiB (idle 160) against 289 MiB (idle 191) without it, at the same
 * throughput and worker CPU. It only works from the command line: V8 sizes the heap when the
 * process starts, so setting it from inside the process gains little (275 MiB).
 */
export const WORKER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
