import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const DBKEEP_CLI = path.join(__dirname, '..', '..', 'bin', 'dbkeep.js');

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program with an argv array (no shell) and returns its exit code and output, whatever the code. */
export async function runCommand(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await run(command, args, { env: options.env, cwd: options.cwd, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string };
    return { code, stdout, stderr };
  }
}

/** The built `dbkeep` CLI (the README's test command builds first). */
export function runDbkeep(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CommandResult> {
  return runCommand(process.execPath, [DBKEEP_CLI, ...args], options);
}

/** A command still running: its output so far, for a test to wait on, and its result. */
export interface RunningCommand {
  readonly stdout: string;
  readonly stderr: string;
  result: Promise<CommandResult>;
}

/** The built `dbkeep` CLI, started: a test can wait for what it prints before it ends. */
export function startDbkeep(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): RunningCommand {
  const child = spawn(process.execPath, [DBKEEP_CLI, ...args], { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
  const result = new Promise<CommandResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, ...output }));
  });
  return {
    get stdout() {
      return output.stdout;
    },
    get stderr() {
      return output.stderr;
    },
    result,
  };
}
