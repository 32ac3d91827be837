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

const MACRO_EXPANSIONS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** The values a valid field matches: `*`, values, ranges, each with an optional step (`a-b/s`, `a/s` runs to the maximum). */
function expandField(text: string, rule: FieldRule): Set<number> {
  const values = new Set<number>();
  for (const item of text.split(',')) {
    const [range = '*', step] = item.split('/');
    const bounds = range === '*' ? [rule.min, rule.max] : range.split('-').map((b) => parseValue(b, rule)!);
    const low = bounds[0]!;
    const high = bounds[1] ?? (step === undefined ? low : rule.max);
    // 7 is Sunday too.
    for (let v = low; v <= high; v += Number(step ?? 1)) values.add(rule.name === 'day of week' && v === 7 ? 0 : v);
  }
  return values;
}

/**
 * The longest time between two consecutive firings of a valid cron expression, in seconds, in
 * the zone's wall-clock time (a daylight-saving shift changes it by an hour at most): what a
 * "no successful backup for too long" alert compares with, so a weekday schedule does not alert
 * every Monday. Day of month and day of week restrict together as cron has it: either one matches
 * when both are restricted.
 */
export function longestCronIntervalSeconds(expression: string): number {
  const trimmed = expression.trim();
  const fields = (MACRO_EXPANSIONS[trimmed] ?? trimmed).split(/\s+/);
  const [minutes, hours, days, months, weekdays] = FIELDS.map((rule, index) => expandField(fields[index]!, rule));
  const dayOfMonthRestricted = fields[2] !== '*';
  const dayOfWeekRestricted = fields[4] !== '*';
  const firesOn = (date: Date): boolean => {
    if (!months!.has(date.getUTCMonth() + 1)) return false;
    const byMonthDay = days!.has(date.getUTCDate());
    const byWeekDay = weekdays!.has(date.getUTCDay());
    if (dayOfMonthRestricted && dayOfWeekRestricted) return byMonthDay || byWeekDay;
    return dayOfMonthRestricted ? byMonthDay : dayOfWeekRestricted ? byWeekDay : true;
  };
  // Minutes of the day it fires at, the same on every day it fires.
  const times = [...hours!].flatMap((h) => [...minutes!].map((m) => h * 60 + m)).sort((a, b) => a - b);
  let longest = 0;
  for (let i = 1; i < times.length; i++) longest = Math.max(longest, times[i]! - times[i - 1]!);
  // Eight years hold every pattern of leap days and month lengths.
  const firingDays: number[] = [];
  for (let day = 0; day < 8 * 366; day++) if (firesOn(new Date(Date.UTC(2024, 0, 1 + day)))) firingDays.push(day);
  for (let i = 1; i < firingDays.length; i++) {
    longest = Math.max(longest, (firingDays[i]! - firingDays[i - 1]!) * 1440 - times.at(-1)! + times[0]!);
  }
  return longest * 60;
}
