import type { CompressionSpec, CompressionAlgorithm, Engine, TargetSpec } from './resources';

/**
 * The argv of every external tool dbkeep runs, as pure functions of the spec, so they can
 * be unit-tested without running anything. Tools are always spawned without a shell.
 */
export interface ToolCommand {
  command: string;
  args: string[];
}

const CLIENT_TOOLS: Record<Engine, { dump: string; client: string }> = {
  mariadb: { dump: 'mariadb-dump', client: 'mariadb' },
  mysql: { dump: 'mysqldump', client: 'mysql' },
  'percona-xtradb': { dump: 'mysqldump', client: 'mysql' },
};

/**
 * The password goes into an option file the tool reads with --defaults-file (which must be
 * the first argument); never into argv, where `ps` shows it. --defaults-file also keeps the
 * worker host's my.cnf out of the way, so a dump behaves the same on every worker.
 */
export function optionFileContents(password: string | undefined): string {
  if (password === undefined) return '[client]\n';
  // The option file parser strips one pair of surrounding quotes and unescapes these.
  const escaped = password
    .replace(/\\/g, '\\\\')
    // Unescaped, a `"` would end the quoted value and a later `#` would start a comment.
    .replace(/"/g, '\\"')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/\t/g, '\\t')
    .replace(/\x08/g, '\\b');
  return `[client]\npassword="${escaped}"\n`;
}

function connectionArgs(target: TargetSpec): string[] {
  const where = target.socket
    ? ['--protocol=SOCKET', `--socket=${target.socket}`]
    : ['--protocol=TCP', `--host=${target.host}`, `--port=${target.port}`];
  return [...where, `--user=${target.user}`];
}

export function logicalDumpCommand(params: { target: TargetSpec; optionFile: string; databases: readonly string[] }): ToolCommand {
  return {
    command: CLIENT_TOOLS[params.target.engine].dump,
    args: [
      `--defaults-file=${params.optionFile}`,
      ...connectionArgs(params.target),
      // One consistent InnoDB snapshot without locking writers.
      '--single-transaction',
      '--routines',
      '--events',
      '--triggers',
      // Binary columns as hex literals: exact round trip whatever the connection charset.
      '--hex-blob',
      '--default-character-set=utf8mb4',
      '--databases',
      // `--` so a database whose name starts with "-" is never read as an option.
      '--',
      ...params.databases,
    ],
  };
}

export function logicalRestoreCommand(params: { target: TargetSpec; optionFile: string }): ToolCommand {
  return {
    command: CLIENT_TOOLS[params.target.engine].client,
    args: [
      `--defaults-file=${params.optionFile}`,
      ...connectionArgs(params.target),
      // Dumps hold binary data and \0 bytes; without it the client may misparse them.
      '--binary-mode',
      '--default-character-set=utf8mb4',
      '--batch',
    ],
  };
}

export function toolVersionCommand(engine: Engine, tool: 'dump' | 'client'): ToolCommand {
  return { command: CLIENT_TOOLS[engine][tool], args: ['--version'] };
}

export function compressCommand(spec: CompressionSpec): ToolCommand | undefined {
  const level = spec.level === undefined ? [] : [`-${spec.level}`];
  switch (spec.algorithm) {
    case 'zstd':
      return { command: 'zstd', args: [...(spec.level === undefined ? ['-3'] : level), '-c', '-q'] };
    case 'gzip':
      return { command: 'gzip', args: [...level, '-c'] };
    case 'bzip2':
      return { command: 'bzip2', args: [...level, '-c'] };
    case 'none':
      return undefined;
  }
}

export function decompressCommand(algorithm: CompressionAlgorithm): ToolCommand | undefined {
  switch (algorithm) {
    case 'zstd':
      return { command: 'zstd', args: ['-d', '-c', '-q'] };
    case 'gzip':
      return { command: 'gzip', args: ['-d', '-c'] };
    case 'bzip2':
      return { command: 'bzip2', args: ['-d', '-c'] };
    case 'none':
      return undefined;
  }
}

export function compressorVersionCommand(algorithm: CompressionAlgorithm): ToolCommand | undefined {
  return algorithm === 'none' ? undefined : { command: algorithm, args: ['--version'] };
}
