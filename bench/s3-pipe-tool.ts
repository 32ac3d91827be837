import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../pipeline/project-root';
import { toolCacheDir } from '../stack/tool-paths';
import type { PipelineStage } from './bare-pipelines';

/**
 * s3-pipe (bench/s3-pipe/main.go): the bench's bare uploader, standard input into one S3 object
 * as `mc pipe` sends it. Built with the machine's Go on first use into the tool cache, under the
 * hash of its sources, so a change to them builds it again; the module's dependencies are those
 * MinIO's build (scripts/bootstrap.sh) already fetched.
 */
const SOURCES = ['main.go', 'go.mod', 'go.sum'];
const execFileAsync = promisify(execFile);

export interface S3PipeDestination {
  endpoint: string;
  bucket: string;
  key: string;
  /** The CA an https endpoint's certificate is checked against. */
  caFile: string;
  accessKey: string;
  secretKey: string;
}

export async function buildS3Pipe(): Promise<string> {
  const sourceDir = path.join(projectRoot(), 'bench', 's3-pipe');
  const hash = createHash('sha256');
  for (const file of SOURCES) hash.update(file).update(readFileSync(path.join(sourceDir, file)));
  const binary = path.join(toolCacheDir(), `bench-s3-pipe-${hash.digest('hex').slice(0, 16)}`, 's3-pipe');
  if (existsSync(binary)) return binary;
  // Built beside its final path and renamed into place, so an interrupted build is never taken for a finished one.
  mkdirSync(path.dirname(binary), { recursive: true });
  const building = `${binary}.${process.pid}.tmp`;
  try {
    await execFileAsync(goCommand(), ['build', '-mod=readonly', '-trimpath', '-o', building, '.'], { cwd: sourceDir });
    renameSync(building, binary);
  } finally {
    rmSync(building, { force: true });
  }
  return binary;
}

/** The machine's Go: on PATH, or where its installer puts it (scripts/bootstrap.sh looks there too). */
function goCommand(): string {
  const installed = '/usr/local/go/bin/go';
  const onPath = (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir !== '' && existsSync(path.join(dir, 'go')));
  return onPath || !existsSync(installed) ? 'go' : installed;
}

/** The pipeline stage uploading its stdin to `to`; the credentials go in its environment, never in argv. */
export function s3PipeStage(binary: string, to: S3PipeDestination): PipelineStage {
  return {
    command: binary,
    args: [to.endpoint, to.bucket, to.key],
    env: { AWS_ACCESS_KEY_ID: to.accessKey, AWS_SECRET_ACCESS_KEY: to.secretKey, S3_PIPE_CA_FILE: to.caFile },
  };
}
