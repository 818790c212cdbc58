// A manifest lists a data set's images: CSV (header `path,label` or `path,label,split`, quoted
// as RFC 4180, parsed by csv-parse) or JSON Lines ({"path": ..., "label": ..., "split": ...}).
// Paths are relative to the manifest's folder (absolute ones are taken as they are). Labels are
// all class names (classes then sorted by code point, as ImageFolder sorts folders) or all
// integer indices 0..K-1 (class i named 'i'); a given class list (a checkpoint's) fixes both.
// Every malformed line is collected and named by its line number in one error.
import * as path from 'node:path';
import { parse } from 'csv-parse/sync';
import { DatasetError } from '../error-classes';
import { readRegularFile } from '../io/files';
import { compareCodePoints } from './code-points';
import type { ImageSample } from './image-folder';

export type SplitName = 'train' | 'val' | 'test';
const SPLITS: readonly SplitName[] = ['train', 'val', 'test'];
const COLUMNS = ['path', 'label', 'split'];
/** Lines named in a manifest's error (the count says how many more). */
const NAMED = 20;

/** One line of a manifest as written. */
interface Row {
  line: number;
  path: string;
  label: string | number;
  split?: string;
}

export interface ManifestListing {
  /** Class names in index order. */
  classes: string[];
  samples: ImageSample[];
  /** Each sample's line in the manifest. */
  lines: number[];
  /** Each sample's split, when the manifest has a split column. */
  splits: SplitName[] | null;
}

interface Problems {
  file: string;
  list: string[];
}

const problem = (p: Problems, line: number, what: string) => p.list.push(`line ${line}: ${what}`);

function throwProblems(p: Problems): void {
  if (p.list.length === 0) return;
  const more = p.list.length > NAMED ? `; and ${p.list.length - NAMED} more` : '';
  throw new DatasetError(`manifest ${p.file} has ${p.list.length} bad line${p.list.length > 1 ? 's' : ''}: ${p.list.slice(0, NAMED).join('; ')}${more}`);
}

/** The column of each of path, label, split in a CSV header. */
function csvColumns(header: string[], p: Problems): Map<string, number> {
  const names = header.map((h) => h.trim().toLowerCase());
  const columns = new Map(names.map((n, i) => [n, i]));
  const unknown = names.filter((n) => !COLUMNS.includes(n));
  if (!columns.has('path') || !columns.has('label') || unknown.length || columns.size !== names.length) {
    throw new DatasetError(
      `manifest ${p.file}: line 1 must be the header path,label or path,label,split (in any order), found '${header.join(',')}'` +
        (unknown.length ? ` (unknown column ${unknown.map((u) => `'${u}'`).join(', ')})` : ''),
    );
  }
  return columns;
}

function csvRows(text: string, p: Problems): { rows: Row[]; hasSplit: boolean } {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { bom: true, info: true, skip_empty_lines: true, relax_column_count: true, record_delimiter: ['\r\n', '\n', '\r'] }) as unknown as typeof records;
  } catch (err) {
    const e = err as Error & { lines?: number };
    throw new DatasetError(`manifest ${p.file}: ${e.lines ? `line ${e.lines}: ` : ''}not valid CSV (${e.message})`);
  }
  if (records.length === 0) throw new DatasetError(`manifest ${p.file} is empty: it needs the header path,label and a line per image`);
  const columns = csvColumns(records[0].record, p);
  const rows: Row[] = [];
  for (const { record, info } of records.slice(1)) {
    if (record.length !== columns.size) {
      problem(p, info.lines, `${record.length} field${record.length === 1 ? '' : 's'} where the header has ${columns.size}`);
      continue;
    }
    const split = columns.has('split') ? record[columns.get('split')!].trim() : undefined;
    rows.push({ line: info.lines, path: record[columns.get('path')!], label: csvLabel(record[columns.get('label')!].trim()), split });
  }
  return { rows, hasSplit: columns.has('split') };
}

// CSV has no types: a label spelled as a canonical non-negative integer counts as an index
const csvLabel = (label: string): string | number => (/^(0|[1-9][0-9]{0,8})$/.test(label) ? Number(label) : label);

function jsonRow(text: string, line: number, p: Problems): Row | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    problem(p, line, `not valid JSON (${(err as Error).message})`);
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problem(p, line, 'not a JSON object ({"path": ..., "label": ...})');
    return null;
  }
  const o = value as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !COLUMNS.includes(k));
  const label = o.label;
  const labelOk = (typeof label === 'string' && label.trim() !== '') || (Number.isSafeInteger(label) && (label as number) >= 0);
  if (unknown.length) problem(p, line, `unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (path, label and split are read)`);
  else if (typeof o.path !== 'string') problem(p, line, '"path" must be a string');
  else if (!labelOk) problem(p, line, `"label" must be a class name or an index (an integer from 0), got ${JSON.stringify(label)}`);
  else if (o.split !== undefined && typeof o.split !== 'string') problem(p, line, '"split" must be a string (train, val or test)');
  else return { line, path: o.path, label: typeof label === 'string' ? label.trim() : (label as number), split: o.split as string | undefined };
  return null;
}

function jsonlRows(text: string, p: Problems): { rows: Row[]; hasSplit: boolean } {
  const rows: Row[] = [];
  text
    .replace(/^\uFEFF/, '')
    .split(/\r\n|\n|\r/)
    .forEach((line, i) => {
      if (line.trim() === '') return;
      const row = jsonRow(line, i + 1, p);
      if (row) rows.push(row);
    });
  return { rows, hasSplit: rows.some((r) => r.split !== undefined) };
}

/** The class list: given, or the names sorted by code point, or the indices 0..K-1. */
function classList(rows: Row[], given: readonly string[] | undefined, p: Problems): string[] {
  if (given) return [...given];
  const names = rows.filter((r) => typeof r.label === 'string');
  const indices = rows.filter((r) => typeof r.label === 'number');
  if (names.length && indices.length) {
    const [a, b] = names[0].line < indices[0].line ? [names[0], indices[0]] : [indices[0], names[0]];
    problem(p, b.line, `label ${JSON.stringify(b.label)} is ${typeof b.label === 'string' ? 'a name' : 'an index'}, and line ${a.line}'s ${JSON.stringify(a.label)} is ${typeof a.label === 'string' ? 'a name' : 'an index'}: use names or indices throughout`);
    return [];
  }
  if (names.length) return [...new Set(names.map((r) => r.label as string))].sort(compareCodePoints);
  const seen = new Set(indices.map((r) => r.label as number));
  // a gap is a class without images: refused as ImageFolder refuses an empty class folder
  let count = 0;
  while (seen.has(count)) count++;
  if (count < seen.size || seen.size === 0) {
    if (seen.size) p.list.push(`integer labels must be 0, 1, 2... with no gap, and no line has label ${count} (give the class list, or use names)`);
    return [];
  }
  return Array.from({ length: count }, (_, i) => String(i));
}

/** Samples of the rows; unknown labels, bad splits, empty and repeated paths become problems. */
function samplesOf(rows: Row[], classes: string[], folder: string, hasSplit: boolean, p: Problems): ManifestListing {
  const index = new Map(classes.map((c, i) => [c, i]));
  const firstLine = new Map<string, number>();
  const out: ManifestListing = { classes, samples: [], lines: [], splits: hasSplit ? [] : null };
  for (const r of rows) {
    const label = typeof r.label === 'number' ? (r.label < classes.length ? r.label : undefined) : index.get(r.label);
    const split = r.split?.toLowerCase() as SplitName | undefined;
    const file = path.resolve(folder, r.path);
    if (r.path.trim() === '') problem(p, r.line, 'the path is empty');
    else if (label === undefined) problem(p, r.line, `unknown label ${JSON.stringify(r.label)} (${classes.length} classes: ${classes.slice(0, 10).join(', ')}${classes.length > 10 ? ', ...' : ''})`);
    else if (hasSplit && r.split === undefined) problem(p, r.line, 'no "split" (other lines have one: every line needs it)');
    else if (hasSplit && !SPLITS.includes(split!)) problem(p, r.line, `split ${JSON.stringify(r.split)} is not train, val or test`);
    else if (firstLine.has(file)) problem(p, r.line, `${r.path} is listed again (first on line ${firstLine.get(file)})`);
    else {
      firstLine.set(file, r.line);
      out.samples.push({ file, path: r.path, label });
      out.lines.push(r.line);
      out.splits?.push(split!);
    }
  }
  return out;
}

/**
 * Reads a manifest (.csv, or JSON Lines with `format: 'jsonl'`): its samples in the order of its
 * lines. Throws one DatasetError naming every malformed line (up to 20, and the count).
 */
export function readManifest(file: string, options: { format?: 'csv' | 'jsonl'; classes?: readonly string[] } = {}): ManifestListing {
  const format = options.format ?? (/\.csv$/i.test(file) ? 'csv' : 'jsonl');
  const p: Problems = { file, list: [] };
  const text = readRegularFile(file, 'manifest', (m) => new DatasetError(m)).toString('utf8');
  const { rows, hasSplit } = format === 'csv' ? csvRows(text, p) : jsonlRows(text, p);
  if (rows.length === 0 && p.list.length === 0) throw new DatasetError(`manifest ${file} lists no image`);
  const before = p.list.length;
  const classes = classList(rows, options.classes, p);
  // without a class list every label would be unknown: stop at its problem (and those before)
  if (p.list.length > before) throwProblems(p);
  const listing = samplesOf(rows, classes, path.dirname(path.resolve(file)), hasSplit, p);
  throwProblems(p);
  return listing;
}
