export { backupSession } from './backup-session';
export { restoreSession } from './restore-session';
export { listSnapshotsWorkflow } from './snapshot-listing';
