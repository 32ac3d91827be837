import { findProjectRoot } from '../pipeline/project-root';

/** dbkeep's own version, recorded in every manifest. */
export const DBKEEP_VERSION: string = findProjectRoot()?.version ?? 'unknown';
