import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { BinlogPiece } from '../../domain/binlog-archive';
import { prunableBinlogFolders, replayFiles, ReplaySelection } from '../../domain/binlog-replay';
import { BinlogScanner } from '../../domain/binlog-scanner';

const FIXTURES = [
  { release: 'mariadb-10.11', flavor: 'mariadb' },
  { release: 'mysql-9.7', flavor: 'mysql' },
] as const;

/** Every transaction of a file, as a scan records them. */
function transactionsOf(flavor: 'mysql' | 'mariadb', bytes: Buffer) {
  const scanner = new BinlogScanner(flavor, { recordTransactions: true });
  scanner.push(bytes);
  return { transactions: scanner.takeTransactions(), end: scanner.committed.gtids, start: scanner.fileStartGtids! };
}

/** Runs a selection over the file in small chunks and scans what it let through. */
function select(flavor: 'mysql' | 'mariadb', bytes: Buffer, selection: ReplaySelection) {
  selection.startFile();
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 97) out.push(...selection.push(bytes.subarray(at, at + 97)));
  return transactionsOf(flavor, Buffer.concat(out));
}

describe.each(FIXTURES)('replaying a $release binary log', ({ release, flavor }) => {
  const bytes = readFileSync(`test/fixtures/binlogs/${release}.binlog`);
  const { transactions, start, end } = transactionsOf(flavor, bytes);
  // The state after the third transaction, as a snapshot taken then would record it.
  const third = new BinlogScanner(flavor);
  third.push(bytes.subarray(0, transactions[2]!.end));
  const snapshot = third.committed.gtids;

  it('lets through a readable binary log of exactly the transactions the snapshot lacks', () => {
    const selected = select(flavor, bytes, new ReplaySelection(flavor, snapshot, { latest: true }));
    expect(selected.transactions.map((t) => t.gtid.text)).toEqual(transactions.slice(3).map((t) => t.gtid.text));
    // The file's own header comes first: the decoder reads the format and the starting GTID state.
    expect(selected.start).toBe(start);
  });

  it('stops just before a GTID, and never applies what the snapshot holds', () => {
    const stop = transactions[6]!.gtid.text;
    const selection = new ReplaySelection(flavor, snapshot, { beforeGtid: stop });
    const selected = select(flavor, bytes, selection);
    expect(selected.transactions.map((t) => t.gtid.text)).toEqual(transactions.slice(3, 6).map((t) => t.gtid.text));
    expect(selection.done).toBe(true);
    // A later file gives nothing once stopped.
    expect(select(flavor, bytes, selection).transactions).toEqual([]);
  });

  it('never applies a transaction twice when a second file repeats it (a failover to a replica)', () => {
    // The same file twice stands for the old source's file and the new source's, which holds the same transactions.
    const selection = new ReplaySelection(flavor, snapshot, { latest: true });
    expect(select(flavor, bytes, selection).transactions).toHaveLength(transactions.length - 3);
    expect(select(flavor, bytes, selection).transactions).toEqual([]);
    expect(selection.applied).toBe(transactions.length - 3);
  });

  it('stops after the last transaction at or before a time, to the second', () => {
    const at = transactions[4]!.at;
    const selected = select(flavor, bytes, new ReplaySelection(flavor, start, { at }));
    expect(selected.transactions.every((t) => t.at <= at)).toBe(true);
    expect(selected.transactions.length).toBe(transactions.filter((t) => t.at <= at).length);
    expect(select(flavor, bytes, new ReplaySelection(flavor, start, { at: transactions[0]!.at - 1 })).transactions).toEqual([]);
  });

  it('chooses the pieces that carry the archive on from the snapshot, each file from its start', () => {
    const cut = transactions[4]!.end;
    const piece = (from: number, to: number, gtidsBefore: string, gtidsAfter: string): BinlogPiece =>
      ({ file: 'binlog.000002', from, to, gtidsBefore, gtidsAfter }) as BinlogPiece;
    const middle = new BinlogScanner(flavor);
    middle.push(bytes.subarray(0, cut));
    const pieces = [
      { folder: 'f', piece: piece(0, cut, start, middle.committed.gtids) },
      { folder: 'f', piece: piece(cut, bytes.length, middle.committed.gtids, end) },
    ];
    expect(replayFiles(flavor, snapshot, pieces)).toEqual([{ folder: 'f', file: 'binlog.000002', pieces: pieces.map((p) => p.piece) }]);
    // A snapshot past the first piece still needs it: the file's header is in it.
    expect(replayFiles(flavor, middle.committed.gtids, pieces)[0]!.pieces).toHaveLength(2);
    expect(replayFiles(flavor, end, pieces)).toEqual([]);
  });
});

describe('pruning the archive with the snapshots', () => {
  const A = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
  const piece = (gtidsBefore: string, gtidsAfter: string) => ({ gtidsBefore, gtidsAfter }) as BinlogPiece;
  const pieces = [
    { folder: 'binlog.000001', piece: piece(`${A}:1-2`, `${A}:1-5`) },
    { folder: 'binlog.000001', piece: piece(`${A}:1-5`, `${A}:1-9`) },
    { folder: 'binlog.000002', piece: piece(`${A}:1-9`, `${A}:1-12`) },
    { folder: 'binlog.000002', piece: piece(`${A}:1-12`, `${A}:1-20`) },
    { folder: 'binlog.000003', piece: piece(`${A}:1-20`, `${A}:1-25`) },
  ];

  it('removes the files every transaction of which the oldest kept snapshot holds, and keeps a file any of which it needs', () => {
    expect(prunableBinlogFolders('mysql', pieces, [`${A}:1-22`, `${A}:1-9`])).toEqual(['binlog.000001']);
    // A snapshot in the middle of a file keeps the whole file: a replay reads it from its start.
    expect(prunableBinlogFolders('mysql', pieces, [`${A}:1-15`])).toEqual(['binlog.000001']);
    expect(prunableBinlogFolders('mysql', pieces, [`${A}:1-20`])).toEqual(['binlog.000001', 'binlog.000002']);
  });

  it('removes nothing while no kept snapshot records a position', () => {
    expect(prunableBinlogFolders('mysql', pieces, [])).toEqual([]);
    expect(prunableBinlogFolders('mariadb', [{ folder: 'f', piece: piece('0-1-5', '0-1-9') }], ['0-1-3'])).toEqual([]);
    expect(
      prunableBinlogFolders(
        'mariadb',
        [
          { folder: 'f', piece: piece('0-1-5', '0-1-9') },
          { folder: 'g', piece: piece('0-1-9', '0-1-10') },
        ],
        ['0-1-9'],
      ),
    ).toEqual(['f']);
  });

  it('never removes the file the archive is still writing, which a later snapshot replays from its start', () => {
    expect(prunableBinlogFolders('mysql', pieces, [`${A}:1-25`])).toEqual(['binlog.000001', 'binlog.000002']);
    // A snapshot taken while the archive's only file is still growing: its pieces so far are all in the snapshot.
    expect(prunableBinlogFolders('mariadb', [{ folder: 'f', piece: piece('', '0-1-7') }], ['0-1-7'])).toEqual([]);
  });
});
