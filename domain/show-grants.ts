import { ALL_PRIVILEGES, type GrantedPrivileges } from './database-privileges';

/**
 * SHOW GRANTS, run by the session itself, read into the privileges its lines grant. It is what
 * shows an unprivileged session what its active roles give it, on both families (measured on
 * MySQL 9.7, MariaDB 10.11 and 11.8): MySQL folds the active roles' privileges into the account's
 * own lines; MariaDB adds the current role's lines and those of the roles granted to it.
 * information_schema's privilege views list the account's own grants only, on both; MySQL's views
 * of role grants (ROLE_TABLE_GRANTS, …) have no global or database grants.
 *
 * Every `GRANT … ON … TO` line shown is in effect for the session, whoever it names after TO.
 * Known and left out, as no check needs them: role memberships, SET DEFAULT ROLE, PROXY, grants
 * on a routine, privileges on columns (they give none on the table), and MySQL's partial revokes
 * (`REVOKE … ON db.*` with partial_revokes=ON), which the checks do not apply, as
 * information_schema does not. Any other line is returned in `notUnderstood`, never guessed at.
 */
export interface ReadGrants {
  granted: GrantedPrivileges;
  /** Lines not understood, with any `IDENTIFIED …` clause cut off: fit for a log. */
  notUnderstood: string[];
}

const NAME = '`(?:[^`]|``)*`';
// No privilege has a word ON: `SELECT ON` ends the list, `SHOW VIEW` does not.
const PRIVILEGE_NAME = '[A-Z][A-Z0-9_]*(?: (?!ON )[A-Z][A-Z0-9_]*)*';
const COLUMNS = ` ?\\(${NAME}(?:, ?${NAME})*\\)`;
const PRIVILEGE = new RegExp(`(${PRIVILEGE_NAME})(${COLUMNS})?`, 'g');
const PRIVILEGES = `${PRIVILEGE_NAME}(?:${COLUMNS})?`;
const GRANT_ON = new RegExp(
  `^GRANT (${PRIVILEGES}(?:, ?${PRIVILEGES})*) ON (?:(TABLE|FUNCTION|PROCEDURE|PACKAGE|PACKAGE BODY) )?(\\*|${NAME})\\.(\\*|${NAME}) TO `,
);
const ROLE_MEMBERSHIP = new RegExp(`^GRANT ${NAME}(?:@${NAME})?(?:, ?${NAME}(?:@${NAME})?)* TO `);
const LEFT_OUT = /^(?:SET DEFAULT ROLE |GRANT PROXY ON |REVOKE )/;

export function parseShowGrants(lines: readonly string[]): ReadGrants {
  const global = new Set<string>();
  const schemas: Array<{ schema: string; privileges: ReadonlySet<string> }> = [];
  const tables: Array<{ schema: string; table: string; privileges: ReadonlySet<string> }> = [];
  const notUnderstood: string[] = [];
  for (const line of lines) {
    const grant = GRANT_ON.exec(line);
    if (!grant) {
      if (!ROLE_MEMBERSHIP.test(line) && !LEFT_OUT.test(line)) notUnderstood.push(line.replace(/ IDENTIFIED .*$/s, ' IDENTIFIED …'));
      continue;
    }
    const [, list = '', routine, database = '', table = ''] = grant;
    if (routine !== undefined && routine !== 'TABLE') continue;
    const privileges = new Set(
      [...list.matchAll(PRIVILEGE)].filter(([, , columns]) => columns === undefined).map(([, name = '']) => privilegeName(name)),
    );
    if (privileges.size === 0) continue;
    if (database === '*' && table === '*') for (const privilege of privileges) global.add(privilege);
    else if (database === '*') notUnderstood.push(line);
    else if (table === '*') schemas.push({ schema: unquote(database), privileges });
    else tables.push({ schema: unquote(database), table: unquote(table), privileges });
  }
  return { granted: { global, schemas, tables }, notUnderstood };
}

/** `ALL` is MySQL's other spelling of `ALL PRIVILEGES`. */
function privilegeName(name: string): string {
  return name === 'ALL' ? ALL_PRIVILEGES : name;
}

function unquote(name: string): string {
  return name.slice(1, -1).replace(/``/g, '`');
}
