/** Whole-file writes that never leave a half-written file: write a temporary sibling, then rename. */
import * as fs from 'fs';

export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}
