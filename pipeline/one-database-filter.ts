import { Transform, type TransformCallback } from 'node:stream';

const NEWLINE = 0x0a;
const CURRENT_DATABASE_COMMENT = Buffer.from('-- Current Database: ');
const CREATE_DATABASE = Buffer.from('CREATE DATABASE ');
const USE = Buffer.from('USE ');

const quoteIdentifier = (name: string) => `\`${name.replace(/`/g, '``')}\``;

/**
 * Passes on only the part of a mariadb-dump/mysqldump `--databases` dump that belongs to one
 * database: the session settings before the first database, its CREATE DATABASE, then what follows `USE <db>;`
 * until the next `USE`. The dump tools write `USE` and `-- Current Database:` at the start of
 * a line and escape newlines inside strings, so a line-based filter sees every switch; stored
 * programs cannot contain USE. (The mariadb client's own --one-database does the same job but
 * in MariaDB 10.11 it either filters everything or nothing, depending on how the database is
 * named on its command line.)
 */
export class OneDatabaseFilter extends Transform {
  private readonly useTarget: Buffer;
  private readonly quotedTarget: Buffer;
  private pending: Buffer = Buffer.alloc(0);
  private state: 'header' | 'inside' | 'outside' = 'header';

  constructor(database: string) {
    super();
    this.quotedTarget = Buffer.from(quoteIdentifier(database));
    this.useTarget = Buffer.concat([USE, this.quotedTarget, Buffer.from(';')]);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let start = 0;
    for (let end = data.indexOf(NEWLINE, start); end !== -1; end = data.indexOf(NEWLINE, start)) {
      this.line(data.subarray(start, end + 1));
      start = end + 1;
    }
    this.pending = Buffer.from(data.subarray(start));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.pending.length) this.line(this.pending);
    callback();
  }

  private line(line: Buffer): void {
    if (line.subarray(0, USE.length).equals(USE)) {
      this.state = line.subarray(0, this.useTarget.length).equals(this.useTarget) ? 'inside' : 'outside';
      if (this.state === 'inside') this.push(line);
      return;
    }
    const createsDatabase = line.subarray(0, CREATE_DATABASE.length).equals(CREATE_DATABASE);
    // A new database's section starts: whatever came before, what follows is not the target's yet.
    if (createsDatabase || line.subarray(0, CURRENT_DATABASE_COMMENT.length).equals(CURRENT_DATABASE_COMMENT)) {
      this.state = 'outside';
    }
    // The target's CREATE DATABASE comes just before its USE, while another database is current.
    if (this.state !== 'outside' || (createsDatabase && line.includes(this.quotedTarget))) this.push(line);
  }
}
