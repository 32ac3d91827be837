export { backupSession } from './backup-session';
export { backupLock } from './backup-lock';
export { restoreSession } from './restore-session';
export { volumeRestoreSession } from './volume-restore-session';
export { bootstrapSession } from './bootstrap-session';
export { pruneSession } from './prune-session';
export { importDumpsWorkflow, listSnapshotsWorkflow, recoverableWindowWorkflow, repositoryStatusWorkflow } from './repository-queries';
export { binlogArchive } from './binlog-archive';
export { sessionNotification } from './session-notification';
