/**
 * Checks a cron expression the way Temporal Schedules read `cronExpressions`, so a typo is
 * rejected at `dbkeep apply` naming the field, not later by the server or, worse, by never
 * firing. Five fields (minute hour day-of-month month day-of-week) or one of the @ macros.
 */
const MACROS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

interface FieldRule {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

const FIELDS: readonly FieldRule[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  // 7 is Sunday too, as in most crons.
  { name: 'day of week', min: 0, max: 7, names: WEEKDAYS },
];

function parseValue(text: string, rule: FieldRule): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  const index = rule.names?.indexOf(text.toLowerCase()) ?? -1;
  if (index < 0) return undefined;
  return rule.name === 'month' ? index + 1 : index;
}

function fieldProblem(text: string, rule: FieldRule): string | undefined {
  for (const item of text.split(',')) {
    const [range, step, extra] = item.split('/');
    if (extra !== undefined || range === undefined || range === '') return `${rule.name} "${text}" is not valid`;
    if (step !== undefined && !/^[1-9]\d*$/.test(step)) return `${rule.name} step "${step}" must be a positive number`;
    if (range === '*') continue;
    const bounds = range.split('-');
    if (bounds.length > 2) return `${rule.name} "${range}" is not a value or a range`;
    const values = bounds.map((b) => parseValue(b, rule));
    if (values.some((v) => v === undefined)) return `${rule.name} "${range}" is not a number${rule.names ? ' or a name' : ''}`;
    const [low, high] = values as number[];
    for (const v of values as number[]) {
      if (v < rule.min || v > rule.max) return `${rule.name} ${v} is outside ${rule.min}-${rule.max}`;
    }
    if (high !== undefined && low !== undefined && high < low) return `${rule.name} range ${range} ends before it starts`;
  }
  return undefined;
}

/** Undefined when the expression is valid; otherwise what is wrong with it. */
export function cronExpressionProblem(expression: string): string | undefined {
  const trimmed = expression.trim();
  if (trimmed.startsWith('@')) {
    return MACROS.includes(trimmed) ? undefined : `"${trimmed}" is not one of ${MACROS.join(', ')}`;
  }
  const fields = trimmed.split(/\s+/);
  if (fields.length !== 5) {
    return `must have 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}; e.g. "0 2 * * *"`;
  }
  for (const [index, rule] of FIELDS.entries()) {
    const problem = fieldProblem(fields[index]!, rule);
    if (problem) return problem;
  }
  return undefined;
}

/** True for IANA time zone names this runtime knows (the Temporal server uses the same tz database names). */
export function isKnownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
