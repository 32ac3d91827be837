import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowBundlePath, workflowsPath } from './dbkeep-worker';

/**
 * `npm run build` bundles the workflow code once, into dist/. A worker that bundled at start
 * would run webpack in its own process and keep about 70 MB of it for its whole life.
 */
async function main(): Promise<void> {
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    logger: { info() {}, warn: console.warn, error: console.error, debug() {}, trace() {}, log() {} },
  });
  writeFileSync(workflowBundlePath, code);
  console.log(`workflow bundle written to ${path.relative(process.cwd(), workflowBundlePath)} (${(code.length / 1024).toFixed(0)} KiB)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
