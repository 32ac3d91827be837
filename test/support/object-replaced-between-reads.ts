import type { Readable } from 'node:stream';
import type { Named, RepositorySpec } from '../../domain/resources';
import type { SecretResolver } from '../../secrets/secret-resolver';
import { openStorage } from '../../storage/open-storage';
import type { Storage } from '../../storage/storage';

/**
 * A fault no real repository produces on demand: a stored object replaced by another writer
 * between two reads of one restore. It wraps the real storage (`open` goes in the worker's
 * ActivityDeps); once armed for a key, the second read of that key gets the bytes of another
 * object instead, and every read of it goes through getStream (no getThrough), so the order of
 * the reads is the wrapper's to count. Unarmed, it changes nothing.
 */
export class ObjectReplacedBetweenReads {
  private armed: { key: string; replacement: string; reads: number } | undefined;

  readonly open = async (repository: Named<RepositorySpec>, secrets: SecretResolver): Promise<Storage> => {
    const storage = await openStorage(repository, secrets);
    return new Proxy(storage, {
      get: (target, property, receiver) => {
        if (property === 'getThrough' && this.armed) return undefined;
        if (property === 'getStream') return (key: string, signal?: AbortSignal) => this.getStream(target, key, signal);
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };

  /** The read of `key` after the next one gets `replacement`'s bytes. */
  arm(key: string, replacement: string): void {
    this.armed = { key, replacement, reads: 0 };
  }

  /** How often the armed key was read since arm(); undefined when nothing is armed. */
  get reads(): number | undefined {
    return this.armed?.reads;
  }

  disarm(): void {
    this.armed = undefined;
  }

  private getStream(storage: Storage, key: string, signal?: AbortSignal): Promise<Readable> {
    const armed = this.armed;
    if (armed?.key !== key) return storage.getStream(key, signal);
    armed.reads++;
    return storage.getStream(armed.reads === 2 ? armed.replacement : key, signal);
  }
}
