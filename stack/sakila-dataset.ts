import { existsSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../pipeline/project-root';

/**
 * The Sakila sample database that `../shared/datasets/sakila` (beside the project root) holds:
 * schema.sql then data.sql. DBKEEP_SAKILA_DIR points elsewhere.
 */
export function sakilaDatasetFiles(): string[] {
  const dir = process.env.DBKEEP_SAKILA_DIR ?? path.join(projectRoot(), '..', 'shared', 'datasets', 'sakila');
  const files = [path.join(dir, 'schema.sql'), path.join(dir, 'data.sql')];
  const missing = files.filter((file) => !existsSync(file));
  if (missing.length > 0) {
    throw new Error(
      `Sakila dataset not found (${missing.join(', ')}): it lives in ../shared/datasets/sakila beside the project, or set DBKEEP_SAKILA_DIR`,
    );
  }
  return files;
}
