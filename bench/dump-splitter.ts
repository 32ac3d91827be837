import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { compressCommand, decompressCommand } from '../domain/tool-commands';

/**
 * Splits a compressed mariadb-dump of one database into parts that can be applied at the same
 * time, to measure what a parallel per-table restore would gain over the bare serial one.
 *
 * Every part starts with the dump's header (session settings, CREATE DATABASE, USE); each
 * table's section (structure, data, its triggers) goes whole to the part with the fewest bytes
 * so far; what follows the last table (events, routines, views' final structure, the closing
 * SETs) goes to a final part, applied after all the others. A dump of several databases is
 * refused: its later `USE` would only reach one part.
 */
const TABLE_MARKER = '-- Table structure for table ';
const DATABASE_MARKER = '-- Current Database: ';
const TRAILER_MARKERS = ['-- Dumping events for database ', '-- Dumping routines for database ', '-- Final view structure for view '];
const NEWLINE = 0x0a;

export interface SplitDump {
  /** Compressed parts to apply at the same time. */
  parts: string[];
  /** The compressed trailer, applied once every part is in. */
  final: string;
}

interface PartWriter {
  file: string;
  bytes: number;
  stdin: Writable;
  finished: Promise<void>;
}

function startCompressor(file: string): PartWriter {
  const tool = compressCommand({ algorithm: 'zstd' })!;
  const out = openSync(file, 'w');
  const child = spawn(tool.command, tool.args, { stdio: ['pipe', out, 'inherit'] });
  closeSync(out);
  const finished = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${tool.command} exited with ${code} writing ${file}`))));
  });
  return { file, bytes: 0, stdin: child.stdin!, finished };
}

async function write(part: PartWriter, bytes: Buffer): Promise<void> {
  part.bytes += bytes.length;
  if (!part.stdin.write(bytes)) await once(part.stdin, 'drain');
}

const startsWith = (line: Buffer, marker: string) => line.subarray(0, marker.length).toString('latin1') === marker;

export async function splitDumpByTable(compressedDump: string, dir: string, streams: number): Promise<SplitDump> {
  const parts = Array.from({ length: streams }, (_, index) => startCompressor(path.join(dir, `part-${index + 1}.sql.zst`)));
  const final = startCompressor(path.join(dir, 'final.sql.zst'));
  const header: Buffer[] = [];
  let current: PartWriter | undefined;
  let databases = 0;
  // Lines bound for `current`, written in one go when it changes or the chunk ends: one write per line would crawl.
  let batch: Buffer[] = [];

  const flush = async (): Promise<void> => {
    if (current !== undefined && batch.length > 0) await write(current, Buffer.concat(batch));
    batch = [];
  };
  const switchTo = async (next: PartWriter): Promise<void> => {
    await flush();
    current = next;
  };
  const routeLine = async (line: Buffer): Promise<void> => {
    if (startsWith(line, DATABASE_MARKER) && ++databases > 1) {
      throw new Error(`${compressedDump} holds several databases; the parallel restore measurement splits dumps of one database only`);
    }
    if (current !== final && TRAILER_MARKERS.some((marker) => startsWith(line, marker))) {
      await switchTo(final);
      batch.push(...header);
    } else if (current !== final && startsWith(line, TABLE_MARKER)) {
      if (current === undefined) for (const part of parts) await write(part, Buffer.concat(header));
      await switchTo(parts.reduce((smallest, part) => (part.bytes < smallest.bytes ? part : smallest)));
    }
    if (current === undefined) header.push(line);
    else batch.push(line);
  };

  const decompress = decompressCommand('zstd')!;
  const input = openSync(compressedDump, 'r');
  const reader = spawn(decompress.command, decompress.args, { stdio: [input, 'pipe', 'inherit'] });
  closeSync(input);
  const readerExit = new Promise<number | null>((resolve, reject) => {
    reader.once('error', reject);
    reader.once('close', resolve);
  });
  let pending = Buffer.alloc(0);
  for await (const chunk of reader.stdout as AsyncIterable<Buffer>) {
    let data = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
    for (let end = data.indexOf(NEWLINE); end !== -1; end = data.indexOf(NEWLINE)) {
      await routeLine(data.subarray(0, end + 1));
      data = data.subarray(end + 1);
    }
    // A copy of the unfinished line, so the chunk it came from can be freed.
    pending = Buffer.from(data);
    await flush();
  }
  if (pending.length > 0) await routeLine(pending);
  await flush();
  if ((await readerExit) !== 0) throw new Error(`${decompress.command} could not read ${compressedDump}`);
  if (current === undefined) throw new Error(`${compressedDump} has no table: nothing to restore in parallel`);

  for (const writer of [...parts, final]) writer.stdin.end();
  await Promise.all([...parts, final].map((writer) => writer.finished));
  return { parts: parts.filter((part) => part.bytes > 0).map((part) => part.file), final: final.file };
}
