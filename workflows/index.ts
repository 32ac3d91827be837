export { backupSession } from './backup-session';
export { restoreSession } from './restore-session';
export { pruneSession } from './prune-session';
export { listSnapshotsWorkflow, repositoryStatusWorkflow } from './repository-queries';
