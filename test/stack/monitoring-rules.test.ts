import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { promtoolPath } from '../../stack/tool-paths';

/**
 * deploy/monitoring's alert rules, checked and unit-tested by Prometheus's own promtool
 * (dbkeep-alerts.test.yaml: each alert fires exactly when it should), and written against the
 * metrics dbkeep pushes, as docs/operations.md lists them.
 */
const monitoring = path.join(__dirname, '..', '..', 'deploy', 'monitoring');
const promtool = (...args: string[]) => execFileSync(promtoolPath(), args, { cwd: monitoring, encoding: 'utf8' });

describe('the alert rules in deploy/monitoring', () => {
  it('are valid rules, and fire in promtool exactly as their tests say', () => {
    expect(promtool('check', 'rules', 'dbkeep-alerts.yaml')).toContain('SUCCESS: 8 rules found');
    expect(promtool('test', 'rules', 'dbkeep-alerts.test.yaml')).toContain('SUCCESS');
  });

  it('use only metrics dbkeep pushes', () => {
    const rules = readFileSync(path.join(monitoring, 'dbkeep-alerts.yaml'), 'utf8');
    const documented = readFileSync(path.join(__dirname, '..', '..', 'docs', 'operations.md'), 'utf8');
    const used = [...new Set(rules.match(/\bdbkeep_[a-z_]+/g))];
    expect(used.length).toBeGreaterThan(5);
    expect(used.filter((metric) => !documented.includes(`| \`${metric}\` |`))).toEqual([]);
  });
});
