import { status as grpcStatus } from '@grpc/grpc-js';
import { Client, Connection, ServiceError } from '@temporalio/client';
import fc from 'fast-check';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DbkeepClient, type StartRestoreOptions, type StartVolumeRestoreOptions } from '../../clients/dbkeep-client';
import { snapshotIdSchema } from '../../domain/names';
import { API_VERSION, type Named } from '../../domain/resources';
import {
  parseResourceSet,
  resolveBackupConfiguration,
  ResourceValidationError,
  type ResolvedBackupConfiguration,
  type ResourceSet,
} from '../../domain/resource-set';
import { formatSnapshotId } from '../../domain/snapshot-id';
import type { SnapshotSelector } from '../../domain/snapshot-selection';
import type { VolumeClaimTemplate } from '../../domain/volume-claim-template';
import {
  DOCUMENT_ORDER,
  invalidDatabaseName,
  invalidInteger,
  invalidMutation,
  invalidName,
  render,
  validDocuments,
  validName,
  withControlCharacter,
  wrongType,
  type Mutation,
} from './resource-arbitraries';

/**
 * The TypeScript client given arbitrary inputs, method by method: a bad one is refused with a
 * ResourceValidationError that starts `<method>: ` and names the field, before anything is sent;
 * a good one is sent. The client's connection is lazy and points at a closed loopback port, so
 * a request that got through fails with UNAVAILABLE instead, and is caught. The SDK's gRPC retry
 * interceptor is left out (`interceptors: []`), so that failure comes at once rather than after
 * its backoff, and the accepted inputs can be checked in numbers too.
 */
const RUNS = 200;
let client: DbkeepClient;
let set: ResourceSet;
let resolved: ResolvedBackupConfiguration;

beforeAll(() => {
  client = new DbkeepClient(new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', interceptors: [] }) }), 'property');
  const documents = validDocuments();
  // A Target to bootstrap: spec.bootstrapFrom names the valid set's configuration.
  const fresh = {
    apiVersion: API_VERSION,
    kind: 'Target',
    metadata: { name: 'fresh' },
    spec: { ...documents.Target.spec, host: '10.0.0.13', bootstrapFrom: { configuration: 'shop-nightly' } },
  };
  set = parseResourceSet([{ file: 'resources.yaml', text: render([...DOCUMENT_ORDER.map((k) => documents[k]), fresh], 'yaml') }]);
  resolved = resolveBackupConfiguration(set, 'shop-nightly');
});

afterAll(async () => {
  await client.close().catch(() => undefined);
});

const settled = (call: () => Promise<unknown>): Promise<unknown> =>
  call().then(
    () => undefined,
    (error: unknown) => error,
  );

/** Refused before anything was sent, by `method`, with a message matching every one of `fields`. */
async function expectRefused(call: () => Promise<unknown>, method: string, ...fields: RegExp[]): Promise<void> {
  const error = await settled(call);
  expect(error, String(error)).toBeInstanceOf(ResourceValidationError);
  const { message } = error as Error;
  expect(message.startsWith(`${method}: `), message).toBe(true);
  for (const field of fields) expect(message).toMatch(field);
}

/** Accepted: the request went out and met the closed port. */
async function expectSent(call: () => Promise<unknown>): Promise<void> {
  const error = await settled(call);
  expect(error, String(error)).toBeInstanceOf(ServiceError);
  expect((error as ServiceError & { cause?: { code?: number } }).cause?.code, String(error)).toBe(grpcStatus.UNAVAILABLE);
}

const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const naming = (field: string) => new RegExp(escaped(field));
/** A name field in any of the messages' forms: `target.name: …`, `BackupConfiguration "x": name: …`. */
const NAME_FIELD = /(^|[ .])name: /;

/** What a wrong integer looks like from code rather than a file: NaN and infinities too. */
const badInteger = (min: number, max: number) => fc.oneof(invalidInteger(min, max), fc.constantFrom(NaN, Infinity, -Infinity));
const badName = fc.oneof(invalidName, wrongType('string'));
/** A field none of the client's inputs has; the message must name it. */
const unknownKey = fc.stringMatching(/^[a-z][a-zA-Z]{0,10}$/).map((key) => `x${key}`);

type ResolvedKey = keyof ResolvedBackupConfiguration;
const RESOLVED_KEY: Record<Mutation['kind'], ResolvedKey> = {
  Repository: 'repository',
  Target: 'target',
  BackupConfiguration: 'configuration',
};

/**
 * A resource file's mutation (resource-arbitraries.ts) applied to the parsed resources instead:
 * `spec.*` into the spec, `metadata.name` to the name, an unknown field beside name and spec.
 */
function mutated(change: Mutation): { resolved: ResolvedBackupConfiguration; key: ResolvedKey; field: RegExp } {
  const copy = structuredClone(resolved);
  const key = RESOLVED_KEY[change.kind];
  const named = copy[key] as unknown as Record<string, any>;
  const [first, ...rest] = change.path;
  if (first === 'spec') {
    let node: Record<string, any> = named.spec;
    for (const step of rest.slice(0, -1)) node = node[step] as Record<string, any>;
    node[rest.at(-1)!] = change.value;
    return { resolved: copy, key, field: naming(change.field) };
  }
  if (change.path.join('.') === 'metadata.name') {
    named.name = change.value;
    return { resolved: copy, key, field: NAME_FIELD };
  }
  named[change.path.at(-1)!] = change.value;
  return { resolved: copy, key, field: naming(change.field) };
}

/**
 * A Repository or Target of a mutated set, as a method's argument: the message names the resource
 * (`Repository "offsite": …`, or the argument when its name is not text), then the field.
 */
function mutatedResource(change: Mutation): { value: Named<unknown>; fields: RegExp[] } {
  const { resolved: bad, key, field } = mutated(change);
  const part = `(^| )(${key}[.:]|${change.kind} ")`;
  return { value: bad[key], fields: field === NAME_FIELD ? [new RegExp(part), NAME_FIELD] : [new RegExp(part), field] };
}

const isoTime = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true });
const snapshotId = fc.tuple(isoTime, fc.stringMatching(/^[0-9a-f]{6}$/)).map(([time, suffix]) => formatSnapshotId(time, suffix));
const validSelector: fc.Arbitrary<SnapshotSelector> = fc.oneof(
  fc.constant({}),
  snapshotId.map((id) => ({ snapshotId: id })),
  isoTime.map((time) => ({ targetRecoveryTime: time.toISOString() })),
);

describe('DbkeepClient inputs, property-based', () => {
  it('refuses a malformed restore selector before contacting Temporal, naming it', async () => {
    const isTime = (text: string) => z.iso.datetime({ offset: true }).safeParse(text).success;
    // Each bad selector, with what the message must name besides `selector`.
    const selector: fc.Arbitrary<{ value: unknown; names: RegExp }> = fc.oneof(
      fc
        .string({ maxLength: 30 })
        .filter((id) => !snapshotIdSchema.safeParse(id).success)
        .map((snapshotId) => ({ value: { snapshotId }, names: /snapshotId/ })),
      fc
        .oneof(fc.string({ maxLength: 25 }), fc.constantFrom('yesterday', '2026-11-21 16:00', '2026-13-01T00:00:00Z'))
        .filter((time) => !isTime(time))
        .map((targetRecoveryTime) => ({ value: { targetRecoveryTime }, names: /targetRecoveryTime/ })),
      fc.constant({
        value: { snapshotId: '20261121T161704123Z-3f9a1c', targetRecoveryTime: '2026-11-21T16:00:00Z' },
        names: /targetRecoveryTime|snapshotId/,
      }),
      fc
        .stringMatching(/^[a-z]{1,8}$/)
        .filter((key) => key !== 'snapshotId')
        .chain((key) =>
          fc.jsonValue({ maxDepth: 1 }).map((v) => ({ value: { [key]: v }, names: new RegExp(`"${key}"|snapshotId|targetRecoveryTime`) })),
        ),
      fc
        .oneof(fc.constant(null), fc.integer(), fc.string(), fc.array(fc.integer(), { maxLength: 2 }))
        .map((value) => ({ value, names: /snapshotId|targetRecoveryTime/ })),
    );
    await fc.assert(
      fc.asyncProperty(selector, fc.constantFrom('restore', 'restoreIntoVolumes'), async ({ value, names }, method) => {
        const call =
          method === 'restore'
            ? () =>
                client.restore({
                  repository: resolved.repository,
                  configuration: 'shop-nightly',
                  target: resolved.target,
                  selector: value as SnapshotSelector,
                })
            : () =>
                client.restoreIntoVolumes({
                  repository: resolved.repository,
                  configuration: 'shop-nightly',
                  selector: value as SnapshotSelector,
                  replicas: 1,
                  volumeTemplate: '/data',
                });
        await expectRefused(call, method, /^[a-zA-Z]+: selector[.:]/, names);
      }),
      { numRuns: 2 * RUNS },
    );
  });

  it('refuses malformed restore options, resources and unknown fields, naming the field', async () => {
    const resourceChange = invalidMutation
      .filter((change) => change.kind !== 'BackupConfiguration')
      .map((change) => {
        const { value, fields } = mutatedResource(change);
        return { patch: { [RESOLVED_KEY[change.kind]]: value }, fields };
      });
    const option = (field: string, values: fc.Arbitrary<unknown>) =>
      values.map((value) => ({ patch: { [field]: value }, fields: [naming(field)] }));
    const change = fc.oneof(
      option('database', fc.oneof(invalidDatabaseName, wrongType('string'))),
      option(
        'args',
        fc.oneof(
          fc.array(
            fc.constantFrom(
              '--host=10.0.0.9',
              '--ho',
              '--execute=DROP DATABASE shop',
              '-e',
              'plain',
              '--',
              '--password=x',
              '--force',
              '--name.host=x',
              '--one-database',
              '--x\u0001=y',
            ),
            {
              minLength: 1,
              maxLength: 3,
            },
          ),
          fc.constant(Array.from({ length: 65 }, () => '--ssl')),
          fc.array(wrongType('string'), { minLength: 1, maxLength: 3 }),
          wrongType('array'),
        ),
      ),
      option('parallel', badInteger(1, 32)),
      option('overwrite', wrongType('boolean')),
      option(
        'identity',
        fc.oneof(fc.constantFrom<unknown>('AGE-SECRET-KEY-1', { env: '1NOT_A_NAME' }, { file: 'relative/key' }, {}), wrongType('object')),
      ),
      option('configuration', badName),
      resourceChange,
      fc.tuple(unknownKey, fc.jsonValue({ maxDepth: 1 })).map(([key, value]) => ({ patch: { [key]: value }, fields: [naming(key)] })),
    );
    await fc.assert(
      fc.asyncProperty(change, async ({ patch, fields }) => {
        const options = {
          repository: resolved.repository,
          configuration: 'shop-nightly',
          target: resolved.target,
          selector: {},
          ...patch,
        } as StartRestoreOptions;
        await expectRefused(() => client.restore(options), 'restore', ...fields);
      }),
      { numRuns: 2 * RUNS },
    );
  });

  it('refuses a malformed resolved configuration in backupNow, prune and importDumps, naming the resource and field', async () => {
    const method = fc.constantFrom('backupNow', 'prune', 'importDumps');
    const call = (name: string, value: unknown, options?: unknown) => {
      const input = value as ResolvedBackupConfiguration;
      if (name === 'backupNow') return () => client.backupNow(input);
      if (name === 'prune') return () => client.prune(input, options as { dryRun?: boolean });
      return () => client.importDumps(input);
    };
    await fc.assert(
      fc.asyncProperty(method, invalidMutation, async (name, change) => {
        const { resolved: bad, field } = mutated(change);
        await expectRefused(call(name, bad), name, field);
      }),
      { numRuns: 2 * RUNS },
    );
    // The argument or one of its parts of the wrong type: the message names the part.
    const wholeArgument = fc.oneof(
      wrongType('object').map((value) => ({ value, field: /^[a-zA-Z]+: Invalid input/ })),
      fc
        .constantFrom<ResolvedKey>('configuration', 'target', 'repository')
        .chain((key) =>
          fc
            .oneof(wrongType('object'), fc.constant({}))
            .map((part) => ({ value: { ...resolved, [key]: part }, field: new RegExp(`(^|[ .])${key}[.:]`) })),
        ),
      fc.tuple(unknownKey, fc.jsonValue({ maxDepth: 1 })).map(([key, v]) => ({ value: { ...resolved, [key]: v }, field: naming(key) })),
    );
    await fc.assert(
      fc.asyncProperty(method, wholeArgument, async (name, { value, field }) => {
        await expectRefused(call(name, value), name, field);
      }),
      { numRuns: RUNS },
    );
    const pruneOptions = fc.oneof(
      fc.constantFrom<unknown>(null, 'dry', 1, [true]),
      wrongType('boolean').map((dryRun) => ({ dryRun })),
      unknownKey.map((key) => ({ dryRun: true, [key]: true })),
    );
    await fc.assert(
      fc.asyncProperty(pruneOptions, async (options) => {
        await expectRefused(call('prune', resolved, options), 'prune', /options/);
      }),
      { numRuns: RUNS / 2 },
    );
  });

  it('refuses malformed replicas, volume templates and claim templates in restoreIntoVolumes, naming the field', async () => {
    const ordinal = '${POD_ORDINAL}';
    const base: StartVolumeRestoreOptions = {
      repository: resolved.repository,
      configuration: 'shop-nightly',
      selector: {},
      replicas: 3,
      volumeTemplate: `/data/replica-${ordinal}`,
    };
    const withClaim = (claim: unknown) => ({ volumeTemplate: undefined, volumeClaimTemplate: claim });
    const change: fc.Arbitrary<{ patch: Record<string, unknown>; fields: readonly RegExp[] }> = fc.oneof(
      badInteger(1, 64).map((replicas) => ({ patch: { replicas }, fields: [/replicas/] })),
      fc
        .oneof(
          fc.constantFrom<unknown>(
            '',
            `relative/${ordinal}`,
            `../replica-${ordinal}`,
            `/data/../etc/${ordinal}`,
            `/data/./replica-${ordinal}`,
            '/data/replica',
            `/data/replica\n${ordinal}`,
            `/data/\u0000${ordinal}`,
          ),
          withControlCharacter.map((text) => `/data/${text}${ordinal}`),
          wrongType('string'),
        )
        .map((volumeTemplate) => ({ patch: { volumeTemplate }, fields: [/volumeTemplate/] })),
      fc.constant({ patch: { volumeTemplate: undefined }, fields: [/volumeTemplate/] }),
      fc.constant({ patch: { volumeClaimTemplate: { name: `data-${ordinal}` } }, fields: [/volumeTemplate/] }),
      fc
        .oneof(
          fc.constantFrom(
            '',
            'data',
            `Data-${ordinal}`,
            `data_${ordinal}`,
            `../data-${ordinal}`,
            `a/b-${ordinal}`,
            `o'brien-${ordinal}`,
            `"data"-${ordinal}`,
            `-data-${ordinal}`,
            `${'d'.repeat(254)}${ordinal}`,
          ),
          withControlCharacter.map((text) => `data-${text}-${ordinal}`),
          wrongType('string'),
        )
        .map((name) => ({ patch: withClaim({ name }), fields: [/volumeClaimTemplate\.name/] })),
      fc
        .constantFrom<[string, unknown]>(
          ['size', 'lots'],
          ['size', '20GB'],
          ['size', '-1Gi'],
          ['size', 20],
          ['accessModes', []],
          ['accessModes', ['ReadWrite']],
          ['accessModes', 'ReadWriteOnce'],
          ['storageClassName', 'Fast_SSD'],
          ['storageClassName', '../ssd'],
        )
        .map(([key, value]) => ({
          patch: withClaim({ name: `data-${ordinal}`, [key]: value }),
          fields: [new RegExp(`volumeClaimTemplate\\.${key}`)],
        })),
      unknownKey.map((key) => ({ patch: withClaim({ name: `data-${ordinal}`, [key]: 1 }), fields: [naming(key)] })),
      wrongType('object').map((claim) => ({ patch: withClaim(claim), fields: [/volumeClaimTemplate/] })),
      badName.map((configuration) => ({ patch: { configuration }, fields: [/configuration/] })),
      wrongType('boolean').map((overwrite) => ({ patch: { overwrite }, fields: [/overwrite/] })),
      invalidMutation
        .filter((c) => c.kind === 'Repository')
        .map((c) => {
          const { value, fields } = mutatedResource(c);
          return { patch: { repository: value }, fields };
        }),
      fc.tuple(unknownKey, fc.jsonValue({ maxDepth: 1 })).map(([key, value]) => ({ patch: { [key]: value }, fields: [naming(key)] })),
    );
    await fc.assert(
      fc.asyncProperty(change, async ({ patch, fields }) => {
        await expectRefused(
          () => client.restoreIntoVolumes({ ...base, ...patch } as StartVolumeRestoreOptions),
          'restoreIntoVolumes',
          ...fields,
        );
      }),
      { numRuns: 2 * RUNS },
    );
  });

  it('refuses malformed names, limits, notes and workflow ids in the listing, schedule and session methods', async () => {
    // Workflow ids are "/"-separated: a bad character, or an empty, "." or ".." segment, between good ones.
    const badWorkflowId = fc.oneof(
      fc.constantFrom(
        '',
        '..',
        '/',
        '../../etc/passwd',
        'backup/../x',
        'backup//x',
        '/backup/x',
        'backup/x/',
        'backup/./x',
        "backup/o'brien/x",
        'backup/"x"/y',
        'backup/x y/z',
        `backup/${'x'.repeat(1000)}`,
      ),
      fc
        .tuple(
          validName,
          fc.constantFrom('"', "'", '`', '\\', ' ', '\n', '\t', '\u0000', '\u001b[31m', '//', '/../', '/./', '%', '*', '?', '#'),
          validName,
        )
        .map(([before, bad, after]) => `backup/${before}${bad}${after}`),
      withControlCharacter.map((text) => `backup/shop/${text}`),
      wrongType('string'),
    );
    const badNote = fc.oneof(fc.constant(''), fc.constant('n'.repeat(1001)), withControlCharacter, wrongType('string'));
    const call = fc.oneof(
      badName.map((name) => ({ method: 'listSessions', run: () => client.listSessions(name as string), fields: [/configuration/] })),
      badInteger(1, 1000).map((limit) => ({
        method: 'listSessions',
        run: () => client.listSessions('shop-nightly', limit as number),
        fields: [/limit/],
      })),
      badName.map((name) => ({
        method: 'listSnapshots',
        run: () => client.listSnapshots(resolved.repository, name as string),
        fields: [/configuration/],
      })),
      badInteger(1, 1000).map((limit) => ({
        method: 'listSnapshots',
        run: () => client.listSnapshots(resolved.repository, 'shop-nightly', limit as number),
        fields: [/limit/],
      })),
      invalidMutation
        .filter((c) => c.kind === 'Repository')
        .map((c) => {
          const { value, fields } = mutatedResource(c);
          return {
            method: 'repositoryStatus',
            run: () => client.repositoryStatus(value as ResolvedBackupConfiguration['repository']),
            fields,
          };
        }),
      fc
        .tuple(fc.constantFrom('pause', 'resume', 'trigger', 'deleteSchedule'), badName)
        .map(([method, name]) => ({ method, run: () => client[method as 'pause'](name as string), fields: [/configuration/] })),
      fc
        .tuple(fc.constantFrom('pause', 'resume'), badNote)
        .map(([method, note]) => ({ method, run: () => client[method as 'pause']('shop-nightly', note as string), fields: [/note/] })),
      fc
        .tuple(fc.constantFrom('status', 'describeSession'), badWorkflowId)
        .map(([method, id]) => ({ method, run: () => client[method as 'status'](id as string), fields: [/workflowId/] })),
      badName.map((name) => ({ method: 'bootstrap', run: () => client.bootstrap(set, name as string), fields: [/targetName/] })),
      badInteger(0, 86_400).map((waitSeconds) => ({
        method: 'bootstrap',
        run: () => client.bootstrap(set, 'fresh', { waitSeconds: waitSeconds as number }),
        fields: [/options\.waitSeconds/],
      })),
      fc
        .oneof(
          fc.constantFrom<unknown>(null, 600, 'soon'),
          unknownKey.map((key) => ({ waitSeconds: 60, [key]: 1 })),
        )
        .map((options) => ({
          method: 'bootstrap',
          run: () => client.bootstrap(set, 'fresh', options as { waitSeconds?: number }),
          fields: [/options/],
        })),
    );
    await fc.assert(
      fc.asyncProperty(call, async ({ method, run, fields }) => {
        await expectRefused(run, method, ...fields);
      }),
      { numRuns: 3 * RUNS },
    );
  });

  it('sends every well-formed input: the request reaches the (closed) Temporal port', async () => {
    const ordinal = '${POD_ORDINAL}';
    // Options the client accepts for mariadb (domain/tool-arguments.ts leaves them allowed).
    const clientArgs = fc.subarray([
      '--max-allowed-packet=64M',
      '--init-command=SET sql_log_bin=0',
      '--ssl',
      '--net-buffer-length=16384',
      '--binary-mode',
      '--comments',
    ]);
    const volumes = fc.oneof(
      fc
        .tuple(fc.integer({ min: 1, max: 64 }), validName)
        .map(([replicas, dir]) => ({ replicas, volumeTemplate: `/${dir}/replica-${ordinal}` })),
      validName.map((dir) => ({ replicas: 1, volumeTemplate: `/${dir}` })),
      fc
        .tuple(
          fc.integer({ min: 1, max: 64 }),
          validName,
          fc.option(fc.constantFrom('20Gi', '512Mi', '1T'), { nil: undefined }),
          fc.option(fc.constantFrom<VolumeClaimTemplate['accessModes']>(['ReadWriteOnce'], ['ReadWriteOncePod', 'ReadWriteMany']), {
            nil: undefined,
          }),
        )
        .map(([replicas, name, size, accessModes]) => ({
          replicas,
          volumeClaimTemplate: { name: `${name}-${ordinal}`, size, accessModes },
        })),
    );
    const note = fc.option(
      fc.string({ minLength: 1, maxLength: 60 }).filter((text) => !/\p{Cc}/u.test(text)),
      { nil: undefined },
    );
    const workflowId = fc.oneof(
      fc.tuple(validName, snapshotId).map(([name, id]) => `backup/${name}/${id}`),
      fc.tuple(validName, isoTime).map(([name, time]) => `backup/${name}/scheduled-${time.toISOString().replace(/\.\d{3}Z$/, 'Z')}`),
      fc.tuple(validName, snapshotId).map(([name, id]) => `restore-volumes/${name}/${id}`),
    );
    const call = fc.oneof(
      fc.constant(() => client.backupNow(resolved)),
      fc.constant(() => client.importDumps(resolved)),
      fc.option(fc.boolean(), { nil: undefined }).map((dryRun) => () => client.prune(resolved, { dryRun })),
      fc
        .record(
          {
            selector: validSelector,
            database: fc.stringMatching(/^[a-z_][a-z0-9_]{0,30}$/),
            args: clientArgs,
            parallel: fc.integer({ min: 1, max: 32 }),
            overwrite: fc.boolean(),
          },
          { requiredKeys: ['selector'] },
        )
        .map(
          (options) => () =>
            client.restore({ repository: resolved.repository, configuration: 'shop-nightly', target: resolved.target, ...options }),
        ),
      fc.tuple(validSelector, volumes, fc.boolean()).map(
        ([selector, volume, overwrite]) =>
          () =>
            client.restoreIntoVolumes({ repository: resolved.repository, configuration: 'shop-nightly', selector, overwrite, ...volume }),
      ),
      fc.tuple(validName, fc.integer({ min: 1, max: 1000 })).map(
        ([name, limit]) =>
          () =>
            client.listSessions(name, limit),
      ),
      fc.tuple(validName, fc.integer({ min: 1, max: 1000 })).map(
        ([name, limit]) =>
          () =>
            client.listSnapshots(resolved.repository, name, limit),
      ),
      fc.constant(() => client.repositoryStatus(resolved.repository)),
      fc.tuple(fc.constantFrom('pause', 'resume'), validName, note).map(
        ([method, name, text]) =>
          () =>
            client[method as 'pause'](name, text),
      ),
      fc.tuple(fc.constantFrom('trigger', 'deleteSchedule'), validName).map(
        ([method, name]) =>
          () =>
            client[method as 'trigger'](name),
      ),
      fc.tuple(fc.constantFrom('status', 'describeSession'), workflowId).map(
        ([method, id]) =>
          () =>
            client[method as 'status'](id),
      ),
      fc
        .option(fc.integer({ min: 0, max: 86_400 }), { nil: undefined })
        .map((waitSeconds) => () => client.bootstrap(set, 'fresh', { waitSeconds })),
    );
    await fc.assert(
      fc.asyncProperty(call, async (run) => {
        await expectSent(run);
      }),
      { numRuns: 2 * RUNS },
    );
  });
});
