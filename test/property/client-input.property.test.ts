import { Client, Connection } from '@temporalio/client';
import fc from 'fast-check';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DbkeepClient } from '../../clients/dbkeep-client';
import { snapshotIdSchema } from '../../domain/names';
import { parseResourceSet, ResourceValidationError, type ResourceSet } from '../../domain/resource-set';
import type { SnapshotSelector } from '../../domain/snapshot-selection';
import { DOCUMENT_ORDER, render, validDocuments } from './resource-arbitraries';

/**
 * The TypeScript client's restore given arbitrary selectors: a bad one is refused with a
 * ResourceValidationError naming the selector's field before anything is sent. The client's
 * connection is lazy and points at a closed port, so a request that got through would fail
 * with a connection error instead, and be caught.
 */
let client: DbkeepClient;
let set: ResourceSet;

beforeAll(() => {
  client = new DbkeepClient(new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) }), 'property');
  const documents = validDocuments();
  set = parseResourceSet([{ file: 'resources.yaml', text: render(DOCUMENT_ORDER.map((k) => documents[k]), 'yaml') }]);
});

afterAll(async () => {
  await client.close().catch(() => undefined);
});

describe('DbkeepClient inputs, property-based', () => {
  it('refuses a malformed restore selector before contacting Temporal, naming it', async () => {
    const isTime = (text: string) => z.iso.datetime({ offset: true }).safeParse(text).success;
    // Each bad selector, with the field the message must name.
    const selector: fc.Arbitrary<{ value: unknown; names: RegExp }> = fc.oneof(
      fc.string({ maxLength: 30 }).filter((id) => !snapshotIdSchema.safeParse(id).success).map((snapshotId) => ({ value: { snapshotId }, names: /snapshotId/ })),
      fc
        .oneof(fc.string({ maxLength: 25 }), fc.constantFrom('yesterday', '2026-11-21 16:00', '2026-13-01T00:00:00Z'))
        .filter((time) => !isTime(time))
        .map((targetRecoveryTime) => ({ value: { targetRecoveryTime }, names: /targetRecoveryTime/ })),
      fc.constant({ value: { snapshotId: '20261121T161704123Z-3f9a1c', targetRecoveryTime: '2026-11-21T16:00:00Z' }, names: /targetRecoveryTime|snapshotId/ }),
      fc.stringMatching(/^[a-z]{1,8}$/).filter((key) => key !== 'snapshotId').chain((key) =>
        fc.jsonValue({ maxDepth: 1 }).map((v) => ({ value: { [key]: v }, names: new RegExp(`"${key}"|snapshotId|targetRecoveryTime`) })),
      ),
      fc.oneof(fc.constant(null), fc.integer(), fc.string(), fc.array(fc.integer(), { maxLength: 2 })).map((value) => ({ value, names: /snapshotId|targetRecoveryTime/ })),
    );
    await fc.assert(
      fc.asyncProperty(selector, async ({ value, names }) => {
        const error = await client
          .restore({
            repository: set.repositories.get('offsite')!,
            configuration: 'shop-nightly',
            target: set.targets.get('shop-db')!,
            selector: value as SnapshotSelector,
          })
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(error).toBeInstanceOf(ResourceValidationError);
        expect((error as Error).message).toMatch(/^restore selector: /);
        expect((error as Error).message).toMatch(names);
      }),
      { numRuns: 300 },
    );
  });
});
