import path from 'node:path';
import { z } from 'zod';
import { resourceNameSchema, snapshotIdSchema } from './names';
import { replicaLayoutProblem } from './replica-layout';
import { formatZodIssues, ResourceValidationError } from './resource-set';
import {
  backupConfigurationSpecSchema,
  repositorySpecSchema,
  restoreOptionsSchema,
  targetSpecSchema,
  type ResourceKind,
} from './resources';
import { retentionPolicySchema } from './retention-policy';
import { secretRefSchema } from './secret-ref';
import { snapshotSelectorSchema } from './snapshot-selection';
import { pointInTimeTargetSchema } from './point-in-time-target';
import { volumeClaimTemplateSchema } from './volume-claim-template';

/**
 * The inputs of the session workflows, one schema and one parse function per session kind: the
 * client parses an input before it starts the session, and the session's first activity parses
 * it again, because an input started with the `temporal` CLI or another SDK reached the worker
 * without the client. The embedded resources are checked with the resource files' own schemas.
 */

const namedSchema = <S extends z.ZodType>(spec: S) => z.strictObject({ name: resourceNameSchema, spec });
const namedRepositorySchema = namedSchema(repositorySpecSchema);
const namedTargetSchema = namedSchema(targetSpecSchema);
const namedConfigurationSchema = namedSchema(backupConfigurationSpecSchema);

/** The parts of an input that are resources, so an error names the resource as the files do. */
type ResourceParts = Readonly<Record<string, ResourceKind>>;

export const backupSessionInputSchema = z
  .strictObject({
    configuration: namedConfigurationSchema,
    target: namedTargetSchema,
    repository: namedRepositorySchema,
    /** Given by `dbkeep backup` (it is part of the workflow id); derived from the start time otherwise. */
    snapshotId: snapshotIdSchema.optional(),
  })
  .superRefine(({ configuration, target, repository }, ctx) => {
    // The configuration's references must be the parts the session carries, or the snapshot
    // would be filed under a configuration that names another database or repository.
    const references = configuration?.spec as { target?: unknown; repository?: unknown } | undefined;
    if (typeof references?.target === 'string' && typeof target?.name === 'string' && references.target !== target.name) {
      ctx.addIssue({
        code: 'custom',
        path: ['configuration', 'spec', 'target'],
        message: `names Target "${references.target}", but the session's target is "${target.name}"`,
      });
    }
    if (typeof references?.repository === 'string' && typeof repository?.name === 'string' && references.repository !== repository.name) {
      ctx.addIssue({
        code: 'custom',
        path: ['configuration', 'spec', 'repository'],
        message: `names Repository "${references.repository}", but the session's repository is "${repository.name}"`,
      });
    }
  });
export type BackupSessionInput = z.output<typeof backupSessionInputSchema>;

export const restoreSessionInputSchema = restoreOptionsSchema
  .extend({
    repository: namedRepositorySchema,
    /** The configuration whose snapshots to restore from. */
    configuration: resourceNameSchema,
    target: namedTargetSchema,
    selector: snapshotSelectorSchema,
    /** Replace databases the target already holds; refused without it. */
    overwrite: z.boolean(),
    /** The configuration's age identity (a reference), for encrypted snapshots. */
    identity: secretRefSchema.optional(),
    /**
     * Restore to this point with the archived binary log (docs/point-in-time-recovery.md): the
     * snapshot comes from the recoverable window, so `selector` must be left at its default.
     */
    pointInTime: pointInTimeTargetSchema.optional(),
  })
  .refine((input) => input.pointInTime === undefined || !('snapshotId' in input.selector || input.selector.targetRecoveryTime), {
    path: ['selector'],
    message: 'a point-in-time restore chooses its snapshot from the recoverable window: leave selector empty',
  });
type ParsedRestoreSessionInput = z.output<typeof restoreSessionInputSchema>;
/** `parallel` may be absent, as a bootstrap's restore and hand-written inputs leave it: 1, serial. */
export type RestoreSessionInput = Omit<ParsedRestoreSessionInput, 'parallel'> & Partial<Pick<ParsedRestoreSessionInput, 'parallel'>>;

export const volumeRestoreSessionInputSchema = z
  .strictObject({
    repository: namedRepositorySchema,
    configuration: resourceNameSchema,
    selector: snapshotSelectorSchema,
    replicas: z.number(),
    /**
     * Where each replica goes; `${POD_ORDINAL}` in it becomes 0, 1, 2… Exactly one of them: a
     * directory on the worker's host (embedded mode), or a PVC (Kubernetes mode).
     */
    volumeTemplate: z
      .string()
      .refine((p) => path.isAbsolute(p), 'must be an absolute directory path')
      .refine((p) => p.split('/').every((segment) => segment !== '.' && segment !== '..'), 'must not have "." or ".." segments')
      // eslint-disable-next-line no-control-regex
      .refine((p) => !/[\u0000-\u001f\u007f]/.test(p), 'must not contain control characters')
      .optional(),
    volumeClaimTemplate: volumeClaimTemplateSchema.optional(),
    overwrite: z.boolean(),
    /** The configuration's age identity (a reference), for encrypted snapshots. */
    identity: secretRefSchema.optional(),
    /** Part of each replica's task queue; the session id from the workflow id when omitted. */
    restoreId: snapshotIdSchema.optional(),
    /**
     * Replay the archived binary log into each volume up to this point (docs/point-in-time-recovery.md):
     * the newest physical snapshot before it comes from the recoverable window, so `selector` stays empty.
     */
    pointInTime: pointInTimeTargetSchema.optional(),
  })
  .superRefine((input, ctx) => {
    if (input.pointInTime !== undefined && ('snapshotId' in input.selector || input.selector.targetRecoveryTime)) {
      ctx.addIssue({
        code: 'custom',
        path: ['selector'],
        message: 'a point-in-time restore chooses its snapshot from the recoverable window: leave selector empty',
      });
    }
    if (typeof input.replicas !== 'number') return;
    const problem = replicaLayoutProblem(input);
    if (problem) ctx.addIssue({ code: 'custom', path: problem.field.split('.'), message: problem.message });
  });
export type VolumeRestoreSessionInput = z.output<typeof volumeRestoreSessionInputSchema>;

export const bootstrapSessionInputSchema = z
  .strictObject({
    target: namedTargetSchema,
    repository: namedRepositorySchema,
    configuration: resourceNameSchema,
    selector: snapshotSelectorSchema,
    identity: secretRefSchema.optional(),
    /** How long a logical bootstrap waits for the new instance to accept connections (`dbkeep bootstrap --wait-seconds`). */
    waitSeconds: z.number().int().min(0).max(86_400),
    /** Recover to this point: a point-in-time restore of the configuration into the new instance (selector left empty). */
    pointInTime: pointInTimeTargetSchema.optional(),
  })
  .refine((input) => input.pointInTime === undefined || !('snapshotId' in input.selector || input.selector.targetRecoveryTime), {
    path: ['selector'],
    message: 'a point-in-time bootstrap chooses its snapshot from the recoverable window: leave selector empty',
  });
export type BootstrapSessionInput = z.output<typeof bootstrapSessionInputSchema>;

export const pruneSessionInputSchema = z.strictObject({
  repository: namedRepositorySchema,
  configuration: resourceNameSchema,
  policy: retentionPolicySchema.optional(),
  /** Decide and report, delete nothing. */
  dryRun: z.boolean(),
});
export type PruneSessionInput = z.output<typeof pruneSessionInputSchema>;

/** Every missing field reads `required`, the same word the workflows' own guard uses. */
const requiredFields: z.core.ParseContext<z.core.$ZodIssue> = {
  error: (issue) => (issue.input === undefined ? 'required' : undefined),
};

/**
 * An issue in a resource names the resource, then the field, as the resource files' errors do
 * (`Repository "repo": spec.s3.bucket: …`); any other issue names the input's field.
 */
function describeIssues(input: unknown, issues: readonly z.core.$ZodIssue[], resources: ResourceParts): string {
  return issues
    .map((issue) => {
      const [part, ...field] = issue.path;
      const kind = typeof part === 'string' ? resources[part] : undefined;
      const name = kind ? (input as Record<string, { name?: unknown } | undefined>)[part as string]?.name : undefined;
      if (kind && typeof name === 'string') return `${kind} ${JSON.stringify(name)}: ${formatZodIssues([{ ...issue, path: field }])}`;
      return formatZodIssues([issue]);
    })
    .join('; ');
}

function sessionInputParser<S extends z.ZodType>(schema: S, resources: ResourceParts): (input: unknown) => z.output<S> {
  return (input) => {
    const parsed = schema.safeParse(input, requiredFields);
    if (!parsed.success) throw new ResourceValidationError(describeIssues(input, parsed.error.issues, resources));
    return parsed.data;
  };
}

/** A backup session's input, defaults applied; throws a ResourceValidationError naming each wrong field. */
export const parseBackupSessionInput = sessionInputParser(backupSessionInputSchema, {
  configuration: 'BackupConfiguration',
  target: 'Target',
  repository: 'Repository',
});

/** A logical restore session's input, defaults applied; throws a ResourceValidationError naming each wrong field. */
export const parseRestoreSessionInput = sessionInputParser(restoreSessionInputSchema, { target: 'Target', repository: 'Repository' });

/** A physical restore into replica volumes; throws a ResourceValidationError naming each wrong field. */
export const parseVolumeRestoreSessionInput = sessionInputParser(volumeRestoreSessionInputSchema, { repository: 'Repository' });

/** A bootstrap session's input; throws a ResourceValidationError naming each wrong field. */
export const parseBootstrapSessionInput = sessionInputParser(bootstrapSessionInputSchema, { target: 'Target', repository: 'Repository' });

/** A prune session's input; throws a ResourceValidationError naming each wrong field. */
export const parsePruneSessionInput = sessionInputParser(pruneSessionInputSchema, { repository: 'Repository' });

/**
 * A session that restores a snapshot (restore, volume restore or bootstrap), its whole input
 * tagged with its kind: what the session hands its first activity (resolvePointInTime for a point
 * in time, resolveSnapshot otherwise), which parses it with the kind's function.
 */
export type RestoringSessionInput =
  | { kind: 'restore'; input: RestoreSessionInput }
  | { kind: 'volumeRestore'; input: VolumeRestoreSessionInput }
  | { kind: 'bootstrap'; input: BootstrapSessionInput };

/** A restoring session's input, defaults applied, parsed with its kind's function; throws a ResourceValidationError. */
export function parseRestoringSessionInput(session: unknown): RestoringSessionInput {
  const { kind, input } = (session ?? {}) as { kind?: unknown; input?: unknown };
  switch (kind) {
    case 'restore':
      return { kind, input: parseRestoreSessionInput(input) };
    case 'volumeRestore':
      return { kind, input: parseVolumeRestoreSessionInput(input) };
    case 'bootstrap':
      return { kind, input: parseBootstrapSessionInput(input) };
    default:
      throw new ResourceValidationError(`session.kind: must be restore, volumeRestore or bootstrap, not ${JSON.stringify(kind)}`);
  }
}

/**
 * The part of a restore input that chooses the snapshot, for an activity that receives no
 * session input: a restore drill's resolveSnapshot, and the one after resolvePointInTime.
 */
export const parseSnapshotSourceInput = sessionInputParser(
  z.object({ repository: namedRepositorySchema, configuration: resourceNameSchema, selector: snapshotSelectorSchema }),
  { repository: 'Repository' },
);
