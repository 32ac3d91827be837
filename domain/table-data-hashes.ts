import { createHash, type Hash } from 'node:crypto';
import { createXXHash128, type IHasher } from 'hash-wasm';

/**
 * The hash of each table's rows in a dump fingerprint (domain/dump-fingerprint.ts), by table
 * name. A table nothing was added to has the hash of no bytes.
 */
export interface TableDataHashes {
  /** The name of the hash in the fingerprint's JSON: `sha256` or `xxh128`. */
  readonly algorithm: 'sha256' | 'xxh128';
  update(table: string, bytes: Uint8Array): void;
  /** Hex; leaves the hash as it was, so more may be added after. */
  digest(table: string): string;
}

/** Formats 1 to 3: SHA-256, one hash object per table. */
export class Sha256TableDataHashes implements TableDataHashes {
  readonly algorithm = 'sha256';
  private readonly hashes = new Map<string, Hash>();

  update(table: string, bytes: Uint8Array): void {
    this.hashOf(table).update(bytes);
  }

  digest(table: string): string {
    return this.hashOf(table).copy().digest('hex');
  }

  private hashOf(table: string): Hash {
    let hash = this.hashes.get(table);
    if (!hash) this.hashes.set(table, (hash = createHash('sha256')));
    return hash;
  }
}

/**
 * Format 4: XXH3-128 (hash-wasm's WebAssembly build), a quarter of SHA-256's CPU per byte. The
 * fingerprint detects a restore that differs from what was dumped, not a forger: the stored
 * objects keep their SHA-256 in the manifest. One hasher serves every table: a dump writes a
 * table's rows together, and when the table changes, the hasher's state (580 bytes) is saved
 * and the next table's loaded, where a hasher per table would cost 18 KiB of WebAssembly memory
 * each.
 */
export class Xxh128TableDataHashes implements TableDataHashes {
  readonly algorithm = 'xxh128';
  private current: string | undefined;
  private readonly saved = new Map<string, Uint8Array>();

  private constructor(private readonly hasher: IHasher) {}

  static async create(): Promise<Xxh128TableDataHashes> {
    return new Xxh128TableDataHashes(await createXXHash128());
  }

  update(table: string, bytes: Uint8Array): void {
    this.switchTo(table);
    this.hasher.update(bytes);
  }

  digest(table: string): string {
    this.switchTo(table);
    const state = this.hasher.save();
    const digest = this.hasher.digest('hex');
    this.hasher.load(state);
    return digest;
  }

  private switchTo(table: string): void {
    if (table === this.current) return;
    if (this.current !== undefined) this.saved.set(this.current, this.hasher.save());
    const state = this.saved.get(table);
    if (state) this.hasher.load(state);
    else this.hasher.init();
    this.saved.delete(table);
    this.current = table;
  }
}
