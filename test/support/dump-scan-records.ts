/** The bytes of dbkeep-tee's 'R' records (pipeline/native/dump-scan.c): the dump without its INSERT statements. */
export function rawBytesOfScan(records: Buffer): Buffer {
  const raw: Buffer[] = [];
  for (let at = 0; at < records.length; at += 5 + records.readUInt32LE(at + 1)) {
    if (records[at] === 0x52) raw.push(records.subarray(at + 5, at + 5 + records.readUInt32LE(at + 1)));
  }
  return Buffer.concat(raw);
}

/** Whether the records end with the end record ('E', empty): the scan read the whole dump. */
export function endsWithEndRecord(records: Buffer): boolean {
  return records.length >= 5 && records.subarray(-5).equals(Buffer.from([0x45, 0, 0, 0, 0]));
}
