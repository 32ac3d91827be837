import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseBinlogPiece } from '../domain/binlog-archive';
import { domainZeroSequence, nowMs } from './pitr-writer';

/**
 * Watches the bucket as a restore would see it: a piece counts as archived once its index entry
 * (written after the data) is listed. Each entry is read once and its end (the GTID state after
 * its last transaction) stamped with the time the watcher first saw it, so a commit's measured
 * lag is never shorter than the real one and at most one poll (plus a listing) longer.
 */
export interface ArchivedPieceSeen {
  key: string;
  /** Domain 0's sequence number after the piece's last transaction. */
  endSequence: number;
  seenAtMs: number;
  transactions: number;
  bytes: number;
}

export interface ArchiveWatch {
  readonly pieces: readonly ArchivedPieceSeen[];
  /** Resolves once a piece ending at or after `sequence` was seen. */
  waitFor(sequence: number, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

async function listKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((object) => object.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

export function watchArchive(params: { s3: S3Client; bucket: string; prefix: string; pollMs: number }): ArchiveWatch {
  const { s3, bucket, prefix, pollMs } = params;
  const pieces: ArchivedPieceSeen[] = [];
  const seen = new Set<string>();
  const controller = new AbortController();
  let failure: Error | undefined;

  const poll = async () => {
    const keys = (await listKeys(s3, bucket, prefix)).filter((key) => key.endsWith('.json') && !seen.has(key));
    const seenAtMs = nowMs();
    for (const key of keys) {
      const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const parsed = parseBinlogPiece(await object.Body!.transformToString());
      if (!parsed.ok) throw new Error(`${key}: ${parsed.reason}`);
      const endSequence = domainZeroSequence(parsed.piece.gtidsAfter);
      seen.add(key);
      // A piece before the first transaction of domain 0 (the file's header events only) ends nowhere.
      if (endSequence === undefined) continue;
      const { transactions, from, to } = parsed.piece;
      pieces.push({ key, endSequence, seenAtMs, transactions, bytes: to - from });
    }
  };

  const running = (async () => {
    while (!controller.signal.aborted) {
      try {
        await poll();
      } catch (error) {
        failure = error instanceof Error ? error : new Error(String(error));
        return;
      }
      await sleep(pollMs, undefined, { signal: controller.signal }).catch(() => undefined);
    }
  })();

  return {
    pieces,
    async waitFor(sequence, timeoutMs) {
      const deadline = nowMs() + timeoutMs;
      while (!pieces.some((piece) => piece.endSequence >= sequence)) {
        if (failure) throw failure;
        if (nowMs() > deadline) throw new Error(`no archived piece reached sequence ${sequence} within ${timeoutMs / 1000} s`);
        await sleep(pollMs);
      }
    },
    async stop() {
      controller.abort();
      await running;
      if (failure) throw failure;
    },
  };
}

/**
 * Archive lag per commit, in seconds: when the first piece reaching its sequence number was
 * seen, minus when its commit was acknowledged. Pieces are seen in order, so the earliest piece
 * that reaches a sequence number holds that commit.
 */
export function commitLagsSeconds(
  commits: { sequence: Float64Array; acknowledgedAtMs: Float64Array; count: number },
  pieces: readonly ArchivedPieceSeen[],
): Float64Array {
  const byEnd = [...pieces].sort((a, b) => a.endSequence - b.endSequence || a.seenAtMs - b.seenAtMs);
  const lags = new Float64Array(commits.count);
  for (let i = 0; i < commits.count; i++) {
    const sequence = commits.sequence[i]!;
    let low = 0;
    let high = byEnd.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (byEnd[middle]!.endSequence >= sequence) high = middle;
      else low = middle + 1;
    }
    if (low === byEnd.length) throw new Error(`commit with sequence ${sequence} was never seen archived`);
    lags[i] = Math.max(0, byEnd[low]!.seenAtMs - commits.acknowledgedAtMs[i]!) / 1000;
  }
  return lags;
}

/** The q-quantile (0..1) of values, nearest rank. */
export function quantile(values: Float64Array, q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
