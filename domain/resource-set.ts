import { parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import {
  RESOURCE_KINDS,
  resourceSchemasByKind,
  type BackupConfigurationSpec,
  type Named,
  type RepositorySpec,
  type ResourceKind,
  type TargetSpec,
} from './resources';

/** A resource file that does not parse or validate. The message names the file, the resource and the field. */
export class ResourceValidationError extends Error {
  override readonly name = 'ResourceValidationError';
}

export function formatZodIssues(issues: readonly z.core.$ZodIssue[], prefix = ''): string {
  return issues
    .map((issue) => {
      const field = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
      return field ? `${field}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

export interface ResourceSource {
  /** File name (or "<stdin>") the text came from, for error messages. */
  file: string;
  text: string;
}

export interface ResourceSet {
  repositories: ReadonlyMap<string, Named<RepositorySpec>>;
  targets: ReadonlyMap<string, Named<TargetSpec>>;
  backupConfigurations: ReadonlyMap<string, Named<BackupConfigurationSpec>>;
}

/** Everything a backup session of one configuration needs, references resolved. */
export interface ResolvedBackupConfiguration {
  configuration: Named<BackupConfigurationSpec>;
  target: Named<TargetSpec>;
  repository: Named<RepositorySpec>;
}

/**
 * Parses and validates multi-document YAML (JSON is YAML too). Pure: callers read the files.
 * Every problem in every document is collected, so a user fixes a file in one pass.
 */
export function parseResourceSet(sources: readonly ResourceSource[]): ResourceSet {
  const errors: string[] = [];
  const repositories = new Map<string, Named<RepositorySpec>>();
  const targets = new Map<string, Named<TargetSpec>>();
  const backupConfigurations = new Map<string, Named<BackupConfigurationSpec>>();
  const origin = new Map<string, string>();

  for (const { file, text } of sources) {
    const documents = parseAllDocuments(text, { uniqueKeys: true });
    const list = Array.isArray(documents) ? documents : [documents];
    list.forEach((doc, index) => {
      const where = `${file} (document ${index + 1})`;
      if (doc.errors.length > 0) {
        errors.push(`${where}: invalid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
        return;
      }
      let value: unknown;
      try {
        value = doc.toJS({ maxAliasCount: 50 });
      } catch (err) {
        // Unresolved aliases and alias bombs surface only here.
        errors.push(`${where}: invalid YAML: ${(err as Error).message.split('\n')[0]}`);
        return;
      }
      if (value === null || value === undefined) return; // an empty document between `---` separators
      if (typeof value !== 'object' || Array.isArray(value)) {
        errors.push(`${where}: must be a mapping with apiVersion, kind, metadata and spec`);
        return;
      }
      const kind = (value as { kind?: unknown }).kind;
      if (typeof kind !== 'string' || !(RESOURCE_KINDS as string[]).includes(kind)) {
        errors.push(`${where}: kind: must be one of ${RESOURCE_KINDS.join(', ')}, got ${JSON.stringify(kind ?? null)}`);
        return;
      }
      const rawName = (value as { metadata?: { name?: unknown } }).metadata?.name;
      const label = `${kind} ${typeof rawName === 'string' ? JSON.stringify(rawName) : '(unnamed)'}`;
      const parsed = resourceSchemasByKind[kind as ResourceKind].safeParse(value);
      if (!parsed.success) {
        errors.push(`${where}: ${label}: ${formatZodIssues(parsed.error.issues)}`);
        return;
      }
      const { name } = parsed.data.metadata;
      const key = `${kind}/${name}`;
      const first = origin.get(key);
      if (first) {
        errors.push(`${where}: ${label}: metadata.name: duplicate, already defined in ${first}`);
        return;
      }
      origin.set(key, where);
      switch (parsed.data.kind) {
        case 'Repository':
          repositories.set(name, { name, spec: parsed.data.spec });
          break;
        case 'Target':
          targets.set(name, { name, spec: parsed.data.spec });
          break;
        case 'BackupConfiguration':
          backupConfigurations.set(name, { name, spec: parsed.data.spec });
          break;
      }
    });
  }

  for (const [name, { spec }] of backupConfigurations) {
    const where = origin.get(`BackupConfiguration/${name}`);
    if (!targets.has(spec.target)) {
      errors.push(`${where}: BackupConfiguration "${name}": spec.target: no Target named "${spec.target}" in the given files`);
    }
    const target = targets.get(spec.target);
    if (spec.method === 'physical' && target && !target.spec.datadir) {
      errors.push(
        `${where}: BackupConfiguration "${name}": spec.method: physical backups read the data directory: set spec.datadir on Target "${spec.target}"`,
      );
    }
    if (!repositories.has(spec.repository)) {
      errors.push(`${where}: BackupConfiguration "${name}": spec.repository: no Repository named "${spec.repository}" in the given files`);
    }
  }

  if (errors.length > 0) throw new ResourceValidationError(errors.join('\n'));
  return { repositories, targets, backupConfigurations };
}

function lookup<T>(map: ReadonlyMap<string, T>, kind: string, name: string): T {
  const found = map.get(name);
  if (!found) {
    const known = [...map.keys()];
    throw new ResourceValidationError(
      `no ${kind} named "${name}" in the given files` + (known.length ? ` (defined: ${known.join(', ')})` : ''),
    );
  }
  return found;
}

export function resolveBackupConfiguration(set: ResourceSet, name: string): ResolvedBackupConfiguration {
  const configuration = lookup(set.backupConfigurations, 'BackupConfiguration', name);
  return {
    configuration,
    target: lookup(set.targets, 'Target', configuration.spec.target),
    repository: lookup(set.repositories, 'Repository', configuration.spec.repository),
  };
}

export function resolveTarget(set: ResourceSet, name: string): Named<TargetSpec> {
  return lookup(set.targets, 'Target', name);
}
