import { describe, expect, it } from 'vitest';
import { recoverableWindows, snapshotForRecoveryTime, type ArchivedPiece } from '../../domain/recoverable-window';

const at = (minute: number) => new Date(Date.UTC(2026, 11, 1, 0, minute)).toISOString();
const piece = (gtidsBefore: string, gtidsAfter: string, first: number, last: number): ArchivedPiece => ({
  gtidsBefore,
  gtidsAfter,
  firstEventAt: at(first),
  lastEventAt: at(last),
});

describe('recoverableWindows, MariaDB positions', () => {
  const pieces = [
    // Out of order on purpose: pieces are joined by their GTIDs, not by the order they are listed in.
    piece('0-1-250', '0-1-300', 50, 60),
    piece('', '0-1-100', 0, 10),
    piece('0-1-100', '0-1-200', 10, 40),
    // The still-growing active piece, uploaded again: it only moves the end further.
    piece('0-1-100', '0-1-180', 10, 35),
  ];

  it('opens a window at each snapshot whose position the archive continues, up to the last event before a gap', () => {
    const { windows, gaps } = recoverableWindows(
      'mariadb',
      [
        { snapshotId: 'night', gtids: '0-1-50', consistentAt: at(5) },
        { snapshotId: 'noon', gtids: '0-1-150', consistentAt: at(20) },
        { snapshotId: 'after-gap', gtids: '0-1-260', consistentAt: at(52) },
      ],
      pieces,
    );
    expect(windows).toEqual([
      { from: at(5), to: at(40), snapshotIds: ['night', 'noon'] },
      { from: at(52), to: at(60), snapshotIds: ['after-gap'] },
    ]);
    expect(gaps).toEqual([{ after: at(40), before: at(50), missing: '0-1-200 to 0-1-250' }]);
  });

  it('opens no window from a snapshot older than the archive, nor for a run no snapshot starts', () => {
    const { windows } = recoverableWindows(
      'mariadb',
      [{ snapshotId: 'old', gtids: '0-1-5', consistentAt: at(1) }],
      [piece('0-1-20', '0-1-100', 3, 10)],
    );
    expect(windows).toEqual([]);
  });
});

describe('recoverableWindows, MySQL GTID sets', () => {
  const A = '3e11fa47-71ca-11e1-9e33-c80aa9429562';

  it('joins pieces by their sets and names the transactions a gap lacks', () => {
    const { windows, gaps } = recoverableWindows(
      'mysql',
      [{ snapshotId: 'night', gtids: `${A}:1-40`, consistentAt: at(4) }],
      [piece(`${A}:1-30`, `${A}:1-60`, 3, 9), piece(`${A}:1-60`, `${A}:1-90`, 9, 15), piece(`${A}:1-95`, `${A}:1-99`, 20, 21)],
    );
    expect(windows).toEqual([{ from: at(4), to: at(15), snapshotIds: ['night'] }]);
    expect(gaps).toEqual([{ after: at(15), before: at(20), missing: `${A}:91-95` }]);
  });
});

describe('snapshotForRecoveryTime', () => {
  const snapshots = [
    { snapshotId: 'night', gtids: '0-1-50', consistentAt: at(5) },
    { snapshotId: 'noon', gtids: '0-1-150', consistentAt: at(20) },
  ];
  const windows = [
    { from: at(5), to: at(40), snapshotIds: ['night', 'noon'] },
    { from: at(52), to: at(60), snapshotIds: ['after-gap'] },
  ];

  it('starts from the newest snapshot of the window that is not after the time', () => {
    expect(snapshotForRecoveryTime(windows, snapshots, at(19))).toEqual({ snapshotId: 'night' });
    expect(snapshotForRecoveryTime(windows, snapshots, at(20))).toEqual({ snapshotId: 'noon' });
    expect(snapshotForRecoveryTime(windows, snapshots, at(40))).toEqual({ snapshotId: 'noon' });
  });

  it('refuses a time in a gap or outside the windows, naming them', () => {
    expect(snapshotForRecoveryTime(windows, snapshots, at(45))).toEqual({
      problem: `${at(45)} is outside every recoverable window (${at(5)} to ${at(40)}, ${at(52)} to ${at(60)})`,
    });
    expect(snapshotForRecoveryTime([], snapshots, at(45))).toEqual({
      problem: `${at(45)} is outside every recoverable window (there is none yet)`,
    });
  });
});
