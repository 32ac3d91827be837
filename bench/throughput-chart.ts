import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { ComparisonResult, Measurement, MeasurementId } from './comparison-report';

/**
 * The benchmark's figures as one picture: a bar per backup and restore measurement (median raw
 * throughput, with its ratio to the bare pipeline), the goal as a dashed line in each group,
 * and the fixed overhead and memory below. Drawn as SVG (pure), turned into PNG by
 * rsvg-convert (Debian's librsvg2-bin) when it is installed.
 */
const WIDTH = 980;
const LABEL_WIDTH = 400;
const BAR_AREA = 380;
const BAR_HEIGHT = 24;
const BAR_GAP = 10;
const LEFT = 20;
const FONT = 'DejaVu Sans, Verdana, sans-serif';
const COLORS = { bare: '#8a8f98', bareVariant: '#c3c7ce', dbkeep: '#2f6fdf', goal: '#d9480f' };

const escapeXml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function text(x: number, y: number, content: string, style: { size?: number; bold?: boolean; fill?: string } = {}): string {
  const weight = style.bold ? ' font-weight="bold"' : '';
  return `<text x="${x.toFixed(1)}" y="${y}" font-family="${FONT}" font-size="${style.size ?? 13}"${weight} fill="${style.fill ?? '#111'}">${escapeXml(content)}</text>`;
}

interface Group {
  title: string;
  baseline: MeasurementId;
  bars: Measurement[];
}

function colorOf(measurement: Measurement, baseline: MeasurementId): string {
  if (measurement.id === baseline) return COLORS.bare;
  return measurement.id.includes('dbkeep-minio') || measurement.id.includes('dbkeep-filesystem') ? COLORS.dbkeep : COLORS.bareVariant;
}

export function throughputChartSvg(result: ComparisonResult): string {
  const byGroup = (group: Measurement['group']) => result.measurements.filter((m) => m.group === group && m.throughputMiBps !== undefined);
  const groups: Group[] = [
    { title: 'Backup (logical)', baseline: 'backup-bare', bars: byGroup('backup') },
    { title: 'Restore (logical)', baseline: 'restore-bare', bars: byGroup('restore') },
    { title: 'Backup (physical, xbstream bytes)', baseline: 'physical-backup-bare', bars: byGroup('physical-backup') },
  ];
  const maxThroughput = Math.max(...result.measurements.map((m) => m.throughputMiBps ?? 0));
  const scale = BAR_AREA / maxThroughput;
  const { database, settings, environment } = result;
  const parts: string[] = [];
  let y = 30;
  parts.push(text(LEFT, y, 'dbkeep against the bare tools: raw throughput, MiB/s (median)', { size: 17, bold: true }));
  y += 22;
  parts.push(
    text(
      LEFT,
      y,
      `${(database.rawBytes / 2 ** 20).toFixed(0)} MiB of SQL in ${database.tables} tables, median of ${settings.runs} run${settings.runs === 1 ? '' : 's'} each; ` +
        `${environment.cpus} CPUs, ${environment.server}; ${result.measuredAt.slice(0, 10)}`,
      { fill: '#555' },
    ),
  );
  y += 18;
  for (const group of groups) {
    const baseline = group.bars.find((m) => m.id === group.baseline);
    y += 26;
    parts.push(text(LEFT, y, group.title, { bold: true }));
    y += 10;
    const top = y;
    // Drawn first, so the bars and their figures stay readable on top of it.
    const goalLineAt = parts.length;
    for (const bar of group.bars) {
      const width = Math.max(1, (bar.throughputMiBps ?? 0) * scale);
      const ratio = baseline && bar.id !== baseline.id ? ` · ${(baseline.medianSeconds / bar.medianSeconds).toFixed(2)}× bare` : '';
      parts.push(text(LEFT, y + 17, bar.label));
      parts.push(
        `<rect x="${LEFT + LABEL_WIDTH}" y="${y}" width="${width.toFixed(1)}" height="${BAR_HEIGHT}" fill="${colorOf(bar, group.baseline)}"/>`,
      );
      parts.push(text(LEFT + LABEL_WIDTH + width + 8, y + 17, `${bar.throughputMiBps!.toFixed(1)}${ratio}`));
      y += BAR_HEIGHT + BAR_GAP;
    }
    const goal = result.ratios.find((ratio) => ratio.baseline === group.baseline && ratio.goal !== undefined)?.goal;
    if (baseline?.throughputMiBps !== undefined && goal !== undefined) {
      const x = LEFT + LABEL_WIDTH + baseline.throughputMiBps * goal * scale;
      parts.splice(
        goalLineAt,
        0,
        `<line x1="${x.toFixed(1)}" y1="${top - 4}" x2="${x.toFixed(1)}" y2="${y - BAR_GAP + 4}" stroke="${COLORS.goal}" stroke-width="2" stroke-dasharray="5,4"/>`,
        text(x + 4, top - 2, `goal ${goal}× bare`, { fill: COLORS.goal, size: 11 }),
      );
    }
  }
  y += 16;
  for (const check of result.goals.filter((g) => g.subject !== 'throughput')) {
    y += 20;
    const mark = check.passed === undefined ? '·' : check.passed ? '✔' : '✘';
    const color = check.passed === undefined ? '#555' : check.passed ? '#2b8a3e' : COLORS.goal;
    parts.push(text(LEFT, y, `${mark} ${check.goal}: ${check.value}`, { fill: color }));
  }
  const height = y + 24;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">`,
    `<rect width="${WIDTH}" height="${height}" fill="white"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

/** Writes the SVG, and the PNG when rsvg-convert is there; a missing converter is a warning, not a failed benchmark. */
export function renderThroughputChart(
  result: ComparisonResult,
  svgFile: string,
  pngFile: string,
): { svg: string; png?: string; warnings: string[] } {
  writeFileSync(svgFile, throughputChartSvg(result));
  try {
    execFileSync('rsvg-convert', ['--format=png', `--output=${pngFile}`, svgFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    return { svg: svgFile, png: pngFile, warnings: [] };
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'rsvg-convert is not installed (Debian package librsvg2-bin)' : String(error);
    return { svg: svgFile, warnings: [`no PNG chart: ${reason}`] };
  }
}
