import path from 'node:path';
import { projectRoot } from './project-root';

/**
 * Tools dbkeep compiles itself from C in pipeline/native/ (scripts/build-native.sh, part of
 * `npm run build`) into dist/native/: small programs for what no packaged tool does cheaply.
 */
const NATIVE_TOOLS = ['dbkeep-tee', 'dbkeep-relay', 'dbkeep-sink', 'dbkeep-stage', 'dbkeep-copy', 'dbkeep-fetch'] as const;
export type NativeTool = (typeof NATIVE_TOOLS)[number];

export function isNativeTool(command: string): command is NativeTool {
  return (NATIVE_TOOLS as readonly string[]).includes(command);
}

/** Where a native tool is: dist/native/ under the project root, for sources and compiled code alike. */
export function nativeToolPath(tool: NativeTool): string {
  return path.join(projectRoot(), 'dist', 'native', tool);
}
