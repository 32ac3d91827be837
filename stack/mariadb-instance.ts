import { startDatabaseInstance, type DatabaseInstance, type DatabaseInstanceOptions } from './database-instance';

/**
 * The names the suites used when the host's MariaDB 10.11 was the only server the stack started,
 * still its default: stack/database-instance.ts starts every release, MySQL 9.7 included.
 */
export type MariaDbInstance = DatabaseInstance;
export type MariaDbInstanceOptions = DatabaseInstanceOptions;
export const startMariaDbInstance = startDatabaseInstance;
