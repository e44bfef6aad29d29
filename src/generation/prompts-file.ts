/** Prompt files for `generate`: .txt, .jsonl and .csv. */
import * as fs from 'fs';
import { readCsv } from '../data/csv';
import { UserError } from '../util/errors';

/** Prompts from a file: one per line (.txt), a "text"/"prompt"/"report"/"impression" field (.jsonl) or column (.csv). */
export function readPrompts(file: string): string[] {
  if (!fs.existsSync(file)) throw new UserError(`${file}: no such file`);
  const fields = ['text', 'prompt', 'report', 'impression'];
  if (file.endsWith('.csv')) {
    const t = readCsv(file);
    const col = fields.map((f) => t.header.indexOf(f)).find((i) => i >= 0);
    if (col === undefined) throw new UserError(`${file}: needs one of the columns ${fields.join(', ')}`);
    return t.rows.map((r) => r[col]).filter((s) => s.trim());
  }
  const lines = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim());
  if (file.endsWith('.jsonl')) {
    return lines.map((l, i) => {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(l);
      } catch {
        throw new UserError(`${file}: line ${i + 1} is not JSON`);
      }
      const f = fields.find((k) => typeof o[k] === 'string');
      if (!f) throw new UserError(`${file}: line ${i + 1} has none of ${fields.join(', ')}`);
      return o[f] as string;
    });
  }
  return lines;
}
