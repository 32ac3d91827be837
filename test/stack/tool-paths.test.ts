import { afterEach, describe, expect, it } from 'vitest';
import { engineRootDir, engineToolsDir, mariadbToolPath, minioPath, temporalCliPath } from '../../stack/tool-paths';

const savedCache = process.env.DBKEEP_TOOL_CACHE;
afterEach(() => {
  if (savedCache === undefined) delete process.env.DBKEEP_TOOL_CACHE;
  else process.env.DBKEEP_TOOL_CACHE = savedCache;
});

describe('tool paths', () => {
  it('names the missing binary and the fix when the tool cache is empty', () => {
    process.env.DBKEEP_TOOL_CACHE = '/nonexistent/dbkeep-cache';
    expect(() => temporalCliPath()).toThrow(
      'Temporal CLI 1.5.1 not found at /nonexistent/dbkeep-cache/temporal-cli-1.5.1/bin/temporal: run scripts/bootstrap.sh',
    );
    expect(() => minioPath()).toThrow(/minio-v0\.0\.0-20260212201848-7aac2a2c5b7c\/bin\/minio: run scripts\/bootstrap\.sh/);
    expect(() => engineToolsDir('mysql-9.7')).toThrow(
      'mysql-9.7 tools not found at /nonexistent/dbkeep-cache/mysql-9.7/bin: run scripts/bootstrap.sh',
    );
    expect(() => engineRootDir('mariadb-11.8')).toThrow(
      'mariadb-11.8 root not found at /nonexistent/dbkeep-cache/mariadb-11.8/root: run scripts/bootstrap.sh',
    );
  });

  it('finds mariadbd in sbin and the clients in bin', () => {
    expect(mariadbToolPath('mariadbd')).toBe('/usr/sbin/mariadbd');
    expect(mariadbToolPath('mariadb-dump')).toBe('/usr/bin/mariadb-dump');
  });
});
