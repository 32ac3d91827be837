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
 *
 * `--heap-growing-percent=50`: after a full collection V8 lets the heap grow by half of what
 * survived before the next one, instead of its own factor. With that factor a 1 GiB backup ran
 * 13-16 full collections of the worker's heap (30-40 MiB live, the SDKs), each freeing under
 * 1 MB: the streamed chunks' memory counts towards the limit, and each collection marks the
 * whole heap. Measured (bench/README.md, 2026-12-05, sixth session): a backup's worker CPU
 * 1.0-1.8 s against 1.9-2.6 s at the same peak RSS (about 205 MiB), a parallel restore's 10.0 s
 * against 14.0 s; with 100 the backup's CPU fell no further and its peak RSS rose to 230 MiB.
 * A 1 MiB semi-space instead removed a backup's full collections (0.78 s of CPU) but raised the
 * parallel restore's CPU from 9.3 s to 11.4-12.0 s.
 */
export const WORKER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--heap-growing-percent=50'];
