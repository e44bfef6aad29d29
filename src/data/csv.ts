/**
 * CSV reading (RFC 4180: quoted fields, doubled quotes, newlines inside quotes) of plain or gzipped
 * files, with columns selected by name, and CSV writing. Errors name the file and the problem.
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import { writeFileAtomic } from '../util/atomic';
import { UserError } from '../util/errors';

export interface CsvTable {
  file: string;
  header: string[];
  /** Rows as arrays of cells, in header order; `line` is the 1-based line where each row starts. */
  rows: string[][];
  lines: number[];
}

/** Reads a file that may be gzipped (by its magic bytes, whatever its name). */
export function readMaybeGzip(file: string): string {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new UserError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = zlib.gunzipSync(buf);
    } catch (e) {
      throw new UserError(`${file}: truncated or corrupt gzip data (${(e as Error).message})`);
    }
  }
  return buf.toString('utf8');
}

/**
 * Visits the rows of CSV text: the first row goes to onHeader (trimmed), every later one to onRow
 * with the 1-based line where it starts. Rows are not kept, so a large table never has all of its
 * cells in memory at once. Rows with a different number of cells than the header are passed on;
 * callers check.
 */
export function visitCsv(text: string, file: string, onHeader: (header: string[]) => void, onRow: (cells: string[], line: number) => void): void {
  let header: string[] | null = null;
  const emit = (r: string[], ln: number) => {
    if (header === null) {
      header = r.map((h) => h.trim());
      onHeader(header);
    } else onRow(r, ln);
  };
  let row: string[] = [];
  let cell = '';
  let i = 0;
  let line = 1;
  let rowLine = 1;
  const n = text.length;
  if (text.charCodeAt(0) === 0xfeff) i = 1; // BOM
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */ && cell.length === 0) {
      // quoted field
      i++;
      let start = i;
      let out = '';
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) throw new UserError(`${file}: line ${rowLine}: unterminated quoted field`);
        if (text.charCodeAt(q + 1) === 34) {
          out += text.slice(start, q + 1);
          i = q + 2;
          start = i;
          continue;
        }
        out += text.slice(start, q);
        i = q + 1;
        break;
      }
      for (let k = 0; k < out.length; k++) if (out.charCodeAt(k) === 10) line++;
      cell = out;
      continue;
    }
    if (c === 44 /* , */) {
      row.push(cell);
      cell = '';
      i++;
    } else if (c === 10 || c === 13) {
      row.push(cell);
      cell = '';
      if (!(row.length === 1 && row[0] === '')) emit(row, rowLine);
      row = [];
      if (c === 13 && text.charCodeAt(i + 1) === 10) i++;
      i++;
      line++;
      rowLine = line;
    } else {
      // plain run up to the next delimiter
      let j = i;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 44 || d === 10 || d === 13) break;
        j++;
      }
      cell += text.slice(i, j);
      i = j;
    }
  }
  if (cell.length > 0 || row.length > 0) {
    row.push(cell);
    emit(row, rowLine);
  }
  if (header === null) throw new UserError(`${file}: empty file (no header row)`);
}

/** Parses CSV text into a table (all rows kept: for small tables). */
export function parseCsv(text: string, file: string): CsvTable {
  const table: CsvTable = { file, header: [], rows: [], lines: [] };
  visitCsv(text, file, (h) => { table.header = h; }, (r, ln) => { table.rows.push(r); table.lines.push(ln); });
  return table;
}

export function readCsv(file: string): CsvTable {
  return parseCsv(readMaybeGzip(file), file);
}

/**
 * Streams the rows of a (possibly gzipped) CSV file, resolving the named columns first; rows with
 * the wrong number of cells go to onMalformed. Returns the number of data rows.
 */
export function forEachCsvRow(file: string, columns: readonly string[], onRow: (get: (name: string) => string, line: number) => void,
  onMalformed: (message: string, line: number) => void): number {
  let idx: Record<string, number> = {};
  let width = 0, count = 0;
  let cells: string[] = [];
  const get = (name: string) => cells[idx[name]];
  visitCsv(readMaybeGzip(file), file, (header) => {
    idx = columnIndex({ file, header, rows: [], lines: [] }, columns);
    width = header.length;
  }, (r, line) => {
    count++;
    if (r.length !== width) {
      onMalformed(`malformed row: ${r.length} fields, header has ${width}`, line);
      return;
    }
    cells = r;
    onRow(get, line);
  });
  return count;
}

/** Column indices by name; a missing required column is an error naming the file and column. */
export function columnIndex(table: CsvTable, names: readonly string[], required = true): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of names) {
    const idx = table.header.indexOf(name);
    if (idx < 0 && required) {
      throw new UserError(`${table.file}: missing column "${name}" (columns: ${table.header.join(', ')})`);
    }
    out[name] = idx;
  }
  return out;
}

function escapeCell(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function formatCsv(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const lines = [header.map(escapeCell).join(',')];
  for (const r of rows) lines.push(r.map(escapeCell).join(','));
  return lines.join('\n') + '\n';
}

/** Writes a CSV (gzipped when the name ends in .gz) atomically. */
export function writeCsv(file: string, header: readonly string[], rows: readonly (readonly string[])[]): void {
  const text = formatCsv(header, rows);
  const data = file.endsWith('.gz') ? zlib.gzipSync(text, { level: 6 }) : Buffer.from(text);
  writeFileAtomic(file, data);
}
