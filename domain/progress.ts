/**
 * What a long activity reports while it streams: activities heartbeat it (activities/heartbeat.ts),
 * so it shows in the Temporal UI's pending-activity card and in `dbkeep status`; the pipeline
 * updates it as bytes pass.
 */
export interface Progress {
  phase: string;
  bytesRead: number;
  bytesWritten: number;
}
