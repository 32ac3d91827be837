import { readFile } from 'node:fs/promises';
import { parseResourceSet, ResourceValidationError, type ResourceSet } from './resource-set';

/** Reads resource files from disk (`-` is standard input) and validates them as one set. */
export async function loadResourceFiles(files: readonly string[]): Promise<ResourceSet> {
  if (files.length === 0) throw new ResourceValidationError('no resource files given (use -f FILE)');
  const sources = await Promise.all(
    files.map(async (file) => {
      try {
        const text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
        return { file: file === '-' ? '<stdin>' : file, text };
      } catch (err) {
        throw new ResourceValidationError(`${file}: cannot read: ${(err as Error).message}`);
      }
    }),
  );
  return parseResourceSet(sources);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
