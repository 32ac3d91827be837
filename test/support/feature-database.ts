import type { MariaDbInstance } from '../../stack/mariadb-instance';
import { rootConnection } from './e2e-stack';

export const FEATURES_DATABASE = 'features';

/**
 * What breaks dumps beyond quoting and bytes, in SQL both engines take: JSON and a generated
 * column on it, spatial data with a spatial index, a fulltext index, range partitions, a
 * foreign key cycle, CHECK constraints, an invisible column, MyISAM, extreme numbers and
 * temporal precision, ENUM/SET/BIT, a view, a trigger, a routine and an event. MySQL also gets a
 * functional index (MariaDB has none).
 */
export async function createFeatureDatabase(instance: MariaDbInstance): Promise<void> {
  const db = FEATURES_DATABASE;
  const connection = await rootConnection(instance);
  try {
    const statements = [
      `CREATE DATABASE ${db} CHARACTER SET utf8mb4`,
      `CREATE TABLE ${db}.docs (
         id INT PRIMARY KEY,
         body JSON,
         title VARCHAR(100) GENERATED ALWAYS AS (JSON_UNQUOTE(JSON_EXTRACT(body, '$.title'))) STORED,
         summary TEXT,
         hidden INT INVISIBLE DEFAULT 7,
         FULLTEXT KEY ft_summary (summary)
       ) ENGINE=InnoDB`,
      `INSERT INTO ${db}.docs (id, body, summary) VALUES
         (1, '{"title": "first", "tags": ["a", "b"], "n": 1.5}', 'the quick brown fox'),
         (2, '{"title": "ünïcode 😀", "nested": {"deep": [1, {"x": null}]}}', 'jumps over the lazy dog'),
         (3, NULL, NULL)`,
      `CREATE TABLE ${db}.places (id INT PRIMARY KEY, pos POINT NOT NULL, area POLYGON NULL, SPATIAL INDEX sp_pos (pos)) ENGINE=InnoDB`,
      `INSERT INTO ${db}.places VALUES
         (1, ST_GeomFromText('POINT(1 2)'), ST_GeomFromText('POLYGON((0 0,0 3,3 3,3 0,0 0))')),
         (2, ST_GeomFromText('POINT(-179.5 89.25)'), NULL)`,
      `CREATE TABLE ${db}.log (id INT NOT NULL, created DATE NOT NULL, note VARCHAR(20), PRIMARY KEY (id, created))
       PARTITION BY RANGE (YEAR(created)) (PARTITION p2024 VALUES LESS THAN (2025), PARTITION pmax VALUES LESS THAN MAXVALUE)`,
      `INSERT INTO ${db}.log VALUES (1, '2024-06-01', 'old'), (2, '2026-12-03', 'new')`,
      `CREATE TABLE ${db}.parent (id INT PRIMARY KEY, child_id INT NULL, qty INT NOT NULL, CONSTRAINT qty_positive CHECK (qty >= 0)) ENGINE=InnoDB`,
      `CREATE TABLE ${db}.child (id INT PRIMARY KEY, parent_id INT NULL, CONSTRAINT fk_child_parent FOREIGN KEY (parent_id) REFERENCES ${db}.parent (id)) ENGINE=InnoDB`,
      `ALTER TABLE ${db}.parent ADD CONSTRAINT fk_parent_child FOREIGN KEY (child_id) REFERENCES ${db}.child (id)`,
      `INSERT INTO ${db}.parent VALUES (1, NULL, 5)`,
      `INSERT INTO ${db}.child VALUES (10, 1)`,
      `UPDATE ${db}.parent SET child_id = 10 WHERE id = 1`,
      `CREATE TABLE ${db}.counters (
         id BIGINT UNSIGNED PRIMARY KEY, low BIGINT, amount DECIMAL(65, 30), ratio DOUBLE, at DATETIME(6), flags BIT(5),
         kind ENUM('a', 'b', 'c'), tags SET('x', 'y', 'z')
       ) ENGINE=MyISAM`,
      `INSERT INTO ${db}.counters VALUES
         (18446744073709551615, -9223372036854775808, 12345678901234567890123456789012345.123456789012345678901234567890, 1.7976931348623157e308, '2038-01-19 03:14:07.999999', b'10101', 'b', 'x,z'),
         (0, 0, 0, -0.000001, '1000-01-01 00:00:00.000000', b'0', NULL, '')`,
      `CREATE VIEW ${db}.doc_titles AS SELECT id, title FROM ${db}.docs WHERE title IS NOT NULL`,
      `CREATE TRIGGER ${db}.log_note BEFORE INSERT ON ${db}.log FOR EACH ROW SET NEW.note = UPPER(NEW.note)`,
      `CREATE FUNCTION ${db}.doubled(x INT) RETURNS INT DETERMINISTIC RETURN x * 2`,
      `CREATE EVENT ${db}.tidy ON SCHEDULE EVERY 1 HOUR DISABLE DO DELETE FROM ${db}.log WHERE created < '2000-01-01'`,
    ];
    for (const statement of statements) await connection.query(statement);
    if (instance.engine === 'mysql') await connection.query(`ALTER TABLE ${db}.docs ADD INDEX by_double_id ((id * 2))`);
  } finally {
    await connection.end();
  }
}
