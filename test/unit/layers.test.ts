import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The layers of docs/architecture.md, checked on every import of the production path. A folder
 * may import its own files and the folders listed for it; nothing on the production path
 * imports stack/, demo/, bench/ or test/ (they may import anything, and are not checked here).
 * Then what a process loads: the static import closure of the CLI's entry and of the workers'
 * files holds no file of those folders, whatever the exceptions allow.
 */
const ROOT = path.join(__dirname, '..', '..');

const MAY_IMPORT = {
  domain: [],
  // Beside storage and secrets: the worker's access to the Kubernetes API.
  kubernetes: ['domain'],
  // Secret references of kind secretKeyRef are read through the Kubernetes API.
  secrets: ['domain', 'kubernetes'],
  // A repository's credentials are resolved through the SecretResolver.
  storage: ['domain', 'secrets'],
  pipeline: ['domain', 'kubernetes', 'secrets', 'storage'],
  activities: ['domain', 'kubernetes', 'secrets', 'storage', 'pipeline'],
  // Activities too, as types only: see TYPE_ONLY.
  workflows: ['domain'],
  workers: ['domain', 'kubernetes', 'secrets', 'storage', 'pipeline', 'activities', 'workflows'],
  clients: ['domain', 'kubernetes', 'secrets', 'storage', 'pipeline', 'activities', 'workflows', 'workers'],
} as const satisfies Record<string, readonly string[]>;

type ProductionFolder = keyof typeof MAY_IMPORT;
const PRODUCTION_FOLDERS = Object.keys(MAY_IMPORT) as ProductionFolder[];

/**
 * Workflows run in the workflow sandbox, bundled: they reach activities through
 * proxyActivities<typeof activities>, so they import their types and never their code.
 */
const TYPE_ONLY: Partial<Record<ProductionFolder, readonly ProductionFolder[]>> = { workflows: ['activities'] };

/** Development, demos, benchmarks and tests: they may import anything, production imports none of them. */
const OUTSIDE_PRODUCTION = ['stack', 'demo', 'bench', 'test'];

/** Packages a folder must not import, with why. */
const FORBIDDEN_PACKAGES: Partial<Record<ProductionFolder, { prefix: string; rule: string }>> = {
  domain: { prefix: '@temporalio/', rule: 'domain/ imports no Temporal SDK: it is the vocabulary every layer shares, workflows included' },
  pipeline: {
    prefix: '@temporalio/',
    rule: 'pipeline/ knows nothing of Temporal: activities hand it a ProgressReporter (startHeartbeats) and an AbortController',
  },
};

/**
 * The known exceptions, each with its reason. Any other violation fails; so does an exception
 * that is no longer needed, so this list only shrinks.
 */
const KNOWN_EXCEPTIONS: ReadonlyArray<{ file: string; imports: string; why: string }> = [
  {
    file: 'clients/cli/dev-commands.ts',
    imports: 'stack/dev-stack',
    why:
      '`dbkeep dev up | down | status` starts and stops the dev stack. main.ts imports this module dynamically, only when a ' +
      'dev command runs: no other command loads stack/ (the static closures below check it)',
  },
  {
    file: 'clients/cli/dev-stack-discovery.ts',
    imports: 'stack/dev-stack',
    why:
      'a client command finds a running `dbkeep dev` Temporal. connectClient imports this module dynamically, only on the dev path ' +
      '(neither --address nor TEMPORAL_ADDRESS given); workers never load it',
  },
];

interface ImportedModule {
  specifier: string;
  /** Erased by the compiler: `import type`, `export type`, every named import marked `type`, or `typeof import()`. */
  typeOnly: boolean;
  /** `import()`: loaded when the call runs, not with the importing module. */
  dynamic: boolean;
}

/** Every module a TypeScript source names: static imports and re-exports, `import()`, `require()`, and import types. */
function importedModules(source: string, fileName = 'module.ts'): ImportedModule[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const found: ImportedModule[] = [];
  const add = (specifier: ts.Node | undefined, typeOnly: boolean, dynamic = false) => {
    if (specifier && ts.isStringLiteralLike(specifier)) found.push({ specifier: specifier.text, typeOnly, dynamic });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const named = clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings.elements : undefined;
      const allNamedAreTypes = !clause?.name && named !== undefined && named.length > 0 && named.every((element) => element.isTypeOnly);
      add(node.moduleSpecifier, clause !== undefined && (clause.isTypeOnly || allNamedAreTypes));
    } else if (ts.isExportDeclaration(node)) {
      const named = node.exportClause && ts.isNamedExports(node.exportClause) ? node.exportClause.elements : undefined;
      add(
        node.moduleSpecifier,
        node.isTypeOnly || (named !== undefined && named.length > 0 && named.every((element) => element.isTypeOnly)),
      );
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, node.isTypeOnly);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal, true);
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword) add(node.arguments[0], false, true);
      // Counted as static: a require() at the top of a module loads with it.
      else if (ts.isIdentifier(callee) && callee.text === 'require') add(node.arguments[0], false);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

function sourceFiles(folder: string): string[] {
  return readdirSync(path.join(ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts') && !file.split(path.sep).includes('node_modules'))
    .map((file) => path.posix.join(folder, file.split(path.sep).join('/')))
    .sort();
}

interface Violation {
  file: string;
  imports: string;
  message: string;
}

/** What breaks the layers in one file (a path relative to the project root, e.g. `activities/backup-activities.ts`). */
function layerViolations(file: string, source: string): Violation[] {
  const folder = file.split('/')[0] as ProductionFolder;
  const violations: Violation[] = [];
  for (const { specifier, typeOnly } of importedModules(source, file)) {
    const report = (imports: string, rule: string) =>
      violations.push({ file, imports, message: `${file}: import '${specifier}'${imports === specifier ? '' : ` (${imports})`}: ${rule}` });
    if (!specifier.startsWith('.')) {
      const forbidden = FORBIDDEN_PACKAGES[folder];
      if (forbidden && specifier.startsWith(forbidden.prefix)) report(specifier, forbidden.rule);
      continue;
    }
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
    const targetFolder = target.split('/')[0]!;
    if (targetFolder === folder) continue;
    if (OUTSIDE_PRODUCTION.includes(targetFolder)) {
      report(target, `nothing on the production path imports ${targetFolder}/ (development, demos, benchmarks and tests only)`);
    } else if (!(PRODUCTION_FOLDERS as string[]).includes(targetFolder)) {
      report(target, `production code imports only from ${PRODUCTION_FOLDERS.map((f) => `${f}/`).join(', ')}`);
    } else if (TYPE_ONLY[folder]?.includes(targetFolder as ProductionFolder)) {
      if (!typeOnly)
        report(target, `${folder}/ imports ${targetFolder}/ as types only (\`import type\`): its code must not reach the workflow bundle`);
    } else if (!(MAY_IMPORT[folder] as readonly string[]).includes(targetFolder)) {
      const allowed = [...MAY_IMPORT[folder], ...(TYPE_ONLY[folder] ?? []).map((f) => `${f} (types only)`)];
      report(
        target,
        `${folder}/ may import ${allowed.length > 0 ? allowed.map((f) => `${f}/`).join(', ') : 'nothing of ours'}, not ${targetFolder}/`,
      );
    }
  }
  return violations;
}

/** The source of a file relative to the project root, or undefined when there is no such file. */
type SourceReader = (file: string) => string | undefined;

const readProjectFile: SourceReader = (file) => {
  const absolute = path.join(ROOT, file);
  return existsSync(absolute) && statSync(absolute).isFile() ? readFileSync(absolute, 'utf8') : undefined;
};

/**
 * Every file of ours that loading `entry` loads, each with the chain of imports that reaches it.
 * Static imports and re-exports only: an `import()` loads its module when the call runs, and a
 * type-only import is erased. A relative specifier names `x.ts` or `x/index.ts`, as Node
 * resolves the compiled `x.js`.
 */
function staticImportClosure(entry: string, read: SourceReader = readProjectFile): Map<string, string[]> {
  const chains = new Map<string, string[]>([[entry, [entry]]]);
  const pending = [entry];
  for (let file = pending.shift(); file !== undefined; file = pending.shift()) {
    const source = read(file);
    if (source === undefined) throw new Error(`${chains.get(file)!.join(' → ')}: no such file`);
    for (const { specifier, typeOnly, dynamic } of importedModules(source, file)) {
      if (typeOnly || dynamic || !specifier.startsWith('.')) continue;
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
      const resolved = [target, `${target}.ts`, `${target}/index.ts`].find((candidate) => read(candidate) !== undefined);
      if (resolved === undefined) throw new Error(`${file}: import '${specifier}' names no file`);
      if (chains.has(resolved)) continue;
      chains.set(resolved, [...chains.get(file)!, resolved]);
      if (resolved.endsWith('.ts')) pending.push(resolved);
    }
  }
  return chains;
}

/** The files of stack/, demo/, bench/ or test/ that loading `entry` loads, each with its chain of imports. */
function outsideProductionLoadedBy(entry: string, read: SourceReader = readProjectFile): string[] {
  return [...staticImportClosure(entry, read).entries()]
    .filter(([file]) => OUTSIDE_PRODUCTION.includes(file.split('/')[0]!))
    .map(([file, chain]) => `${entry} loads ${file}: ${chain.join(' → ')}`);
}

/** The CLI's entry, which runs every command (`dbkeep worker` on a worker image too), and the workers' files. */
const ENTRIES = ['clients/cli/main.ts', ...sourceFiles('workers')];

const isKnownException = (violation: Violation) =>
  KNOWN_EXCEPTIONS.some((exception) => exception.file === violation.file && exception.imports === violation.imports);

describe('layers', () => {
  const files = PRODUCTION_FOLDERS.flatMap(sourceFiles);
  const violations = files.flatMap((file) => layerViolations(file, readFileSync(path.join(ROOT, file), 'utf8')));

  it('reads the production folders', () => {
    for (const folder of PRODUCTION_FOLDERS)
      expect(
        files.some((file) => file.startsWith(`${folder}/`)),
        folder,
      ).toBe(true);
  });

  it('every import goes down the layers, except the known exceptions', () => {
    expect(violations.filter((violation) => !isKnownException(violation)).map((violation) => violation.message)).toEqual([]);
  });

  it('every known exception is still needed', () => {
    const unused = KNOWN_EXCEPTIONS.filter(
      (exception) => !violations.some((v) => v.file === exception.file && v.imports === exception.imports),
    );
    expect(
      unused.map((exception) => `${exception.file} → ${exception.imports} no longer happens: remove it from KNOWN_EXCEPTIONS`),
    ).toEqual([]);
  });

  it('the CLI and the workers load nothing of stack/, demo/, bench/ or test/, the known exceptions included', () => {
    // The closures are read: the CLI reaches the workers it runs and the client.
    expect([...staticImportClosure('clients/cli/main.ts').keys()]).toEqual(
      expect.arrayContaining(['clients/cli/worker-commands.ts', 'workers/run-worker.ts', 'clients/dbkeep-client.ts']),
    );
    expect(ENTRIES.flatMap((entry) => outsideProductionLoadedBy(entry))).toEqual([]);
  });
});

describe('staticImportClosure', () => {
  const files: Record<string, string> = {
    'clients/cli/main.ts': [
      "import { a } from './a';",
      "import type { T } from './types';",
      "const dev = () => import('./dev');",
      "export { w } from '../../workers';",
    ].join('\n'),
    'clients/cli/a.ts': "import { s } from '../../stack/server';",
    'clients/cli/types.ts': "import { s } from '../../stack/types-only';",
    'clients/cli/dev.ts': "import { s } from '../../stack/dev';",
    'workers/index.ts': "import { a } from '../clients/cli/a';",
    'stack/server.ts': "import { t } from '../test/support';",
    'stack/types-only.ts': '',
    'stack/dev.ts': '',
    'test/support.ts': '',
  };
  const read: SourceReader = (file) => files[file];

  it('follows static imports and re-exports, not import() nor type-only imports', () => {
    expect(Object.fromEntries(staticImportClosure('clients/cli/main.ts', read))).toEqual({
      'clients/cli/main.ts': ['clients/cli/main.ts'],
      'clients/cli/a.ts': ['clients/cli/main.ts', 'clients/cli/a.ts'],
      'workers/index.ts': ['clients/cli/main.ts', 'workers/index.ts'],
      'stack/server.ts': ['clients/cli/main.ts', 'clients/cli/a.ts', 'stack/server.ts'],
      'test/support.ts': ['clients/cli/main.ts', 'clients/cli/a.ts', 'stack/server.ts', 'test/support.ts'],
    });
  });

  it('names each file outside production an entry loads, with the chain of imports', () => {
    expect(outsideProductionLoadedBy('clients/cli/main.ts', read)).toEqual([
      'clients/cli/main.ts loads stack/server.ts: clients/cli/main.ts → clients/cli/a.ts → stack/server.ts',
      'clients/cli/main.ts loads test/support.ts: clients/cli/main.ts → clients/cli/a.ts → stack/server.ts → test/support.ts',
    ]);
  });
});

describe('importedModules', () => {
  it('finds every form of import, and tells type-only ones apart', () => {
    const source = [
      "import { a } from './value';",
      "import type { B } from './type';",
      "import { type C, type D } from './inline-types';",
      "import { type E, f } from './mixed';",
      "import g from './default';",
      "import './side-effect';",
      "export { h } from './re-export';",
      "export type { I } from './type-re-export';",
      "export * from './star';",
      "const j = require('./required');",
      "async function k() { return import('./dynamic'); }",
      "let l: typeof import('./import-type');",
      "import m = require('./import-equals');",
    ].join('\n');
    expect(importedModules(source)).toEqual([
      { specifier: './value', typeOnly: false, dynamic: false },
      { specifier: './type', typeOnly: true, dynamic: false },
      { specifier: './inline-types', typeOnly: true, dynamic: false },
      { specifier: './mixed', typeOnly: false, dynamic: false },
      { specifier: './default', typeOnly: false, dynamic: false },
      { specifier: './side-effect', typeOnly: false, dynamic: false },
      { specifier: './re-export', typeOnly: false, dynamic: false },
      { specifier: './type-re-export', typeOnly: true, dynamic: false },
      { specifier: './star', typeOnly: false, dynamic: false },
      { specifier: './required', typeOnly: false, dynamic: false },
      { specifier: './dynamic', typeOnly: false, dynamic: true },
      { specifier: './import-type', typeOnly: true, dynamic: false },
      { specifier: './import-equals', typeOnly: false, dynamic: false },
    ]);
  });

  it('names the file, the import and the rule of a violation', () => {
    const messages = (file: string, source: string) => layerViolations(file, source).map((violation) => violation.message);
    expect(messages('domain/x.ts', "import { y } from '../activities/y';")).toEqual([
      "domain/x.ts: import '../activities/y' (activities/y): domain/ may import nothing of ours, not activities/",
    ]);
    expect(messages('activities/x.ts', "import { devStackUp } from '../stack/dev-stack';")).toEqual([
      "activities/x.ts: import '../stack/dev-stack' (stack/dev-stack): nothing on the production path imports stack/ (development, demos, benchmarks and tests only)",
    ]);
    expect(messages('workflows/x.ts', "import { createActivities } from '../activities';")).toEqual([
      "workflows/x.ts: import '../activities' (activities): workflows/ imports activities/ as types only (`import type`): its code must not reach the workflow bundle",
    ]);
    expect(messages('workflows/x.ts', "import type { DbkeepActivities } from '../activities';")).toEqual([]);
    expect(messages('pipeline/x.ts', "import { Context } from '@temporalio/activity';")).toEqual([
      "pipeline/x.ts: import '@temporalio/activity': pipeline/ knows nothing of Temporal: activities hand it a ProgressReporter (startHeartbeats) and an AbortController",
    ]);
    expect(messages('storage/x.ts', "const r = require('../activities/heartbeat');")).toHaveLength(1);
  });
});
