/**
 * CSV reading (RFC 4180: quoted fields, doubled quotes, newlines inside quotes) of plain or gzipped
 * files, with columns selected by name, and CSV writing. Errors name the file and the problem.
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
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

/** Parses CSV text. Rows with a different number of cells than the header are kept; callers check. */
export function parseCsv(text: string, file: string): CsvTable {
  const rows: string[][] = [];
  const lines: number[] = [];
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
      if (!(row.length === 1 && row[0] === '')) {
        rows.push(row);
        lines.push(rowLine);
      }
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
    rows.push(row);
    lines.push(rowLine);
  }
  if (rows.length === 0) throw new UserError(`${file}: empty file (no header row)`);
  const header = rows.shift()!.map((h) => h.trim());
  lines.shift();
  return { file, header, rows, lines };
}

export function readCsv(file: string): CsvTable {
  return parseCsv(readMaybeGzip(file), file);
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
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}
