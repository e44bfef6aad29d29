/**
 * Atomic checkpoint directories: everything is written into a temporary sibling folder, which then
 * replaces the target in one rename, so an interrupted write never leaves a half checkpoint and
 * never destroys the previous one.
 */
import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '../util/errors';

export function writeCheckpointDir(dir: string, write: (tmp: string) => void): void {
  const parent = path.dirname(path.resolve(dir));
  fs.mkdirSync(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(dir)}.tmp-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    write(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const old = path.join(parent, `.${path.basename(dir)}.old-${process.pid}`);
  const hadOld = fs.existsSync(dir);
  if (hadOld) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  if (hadOld) fs.rmSync(old, { recursive: true, force: true });
}

export function readJson<T>(file: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new UserError(`${file}: cannot read (${(e as Error).message})`);
  }
}
