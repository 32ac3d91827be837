import type { ServerIdentity } from './server-flavor';

/*
 * A parallel restore turns big tables' extended INSERTs into rows for `LOAD DATA LOCAL INFILE`,
 * which MariaDB applies two to three times faster than the same rows as SQL: the server no
 * longer parses every value as an expression (docs/sessions.md, "LOAD DATA for big tables").
 * pipeline/native/dbkeep-stage.c converts what is written exactly the same both ways; this
 * module decides which targets take it.
 */

/**
 * Whether a parallel restore into this server turns big tables' INSERTs into LOAD DATA LOCAL:
 * only MariaDB with `local_infile` on (its default; MySQL's is off, and turning it on is the
 * DBA's call, not a restore's), at a release whose InnoDB bulk load into an empty table is fixed
 * (MDEV-34703: 10.11.11, 11.4.5, 11.7.2, as mariadb-import checks), and never a Galera node: one
 * LOAD DATA is one write set, which a big table makes larger than wsrep_max_ws_size.
 */
export function serverTakesLoadData(server: { identity: ServerIdentity; localInfile: boolean; galera: boolean }): boolean {
  if (server.identity.flavor !== 'mariadb' || !server.localInfile || server.galera) return false;
  const [major, minor, patch] = server.identity.release;
  const release = major * 10000 + minor * 100 + patch;
  return release >= 110702 || (release >= 110405 && release < 110500) || (release >= 101111 && release < 101200);
}
