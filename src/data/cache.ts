/**
 * The toolkit's cache folder ($CXRL_CACHE_DIR, else $XDG_CACHE_HOME/cxrl-native, else
 * ~/.cache/cxrl-native): the embedded default dataset, made once, and the preprocessed-pixel cache
 * of every dataset root (keyed by the root's path; see ImageLoader for the settings key).
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Progress } from '../util/progress';
import { ImageLoader } from './images';
import { SYNTH_VERSION, synthesizeDataset } from './synth';

export function cacheRoot(): string {
  return process.env.CXRL_CACHE_DIR || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'cxrl-native');
}

/** Removes `DIR.tmp-PID` folders left by builds whose process is gone (killed, or crashed). */
function removeDeadTemporaries(dir: string): void {
  const parent = path.dirname(dir);
  if (!fs.existsSync(parent)) return;
  const prefix = `${path.basename(dir)}.tmp-`;
  for (const name of fs.readdirSync(parent)) {
    const pid = name.startsWith(prefix) ? name.slice(prefix.length) : '';
    if (/^\d+$/.test(pid) && !processAlive(Number(pid))) fs.rmSync(path.join(parent, name), { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The embedded default dataset, made once (atomically) into the cache folder. */
export async function embeddedDataset(studies: number, seed: number): Promise<string> {
  const dir = path.join(cacheRoot(), `synth-v${SYNTH_VERSION}-n${studies}-s${seed}-px256`);
  if (fs.existsSync(path.join(dir, 'IMAGE_FILENAMES'))) return dir;
  removeDeadTemporaries(dir);
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const bar = new Progress('making the embedded synthetic dataset', studies, 'studies');
  try {
    await synthesizeDataset({ out: tmp, studies, seed, size: 256, onProgress: (d) => bar.update(d) });
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return dir;
}

/** An image loader for a dataset root whose preprocessed pixels are cached in the cache folder. */
export function cachedImageLoader(root: string, size: number): ImageLoader {
  const rootKey = crypto.createHash('sha256').update(path.resolve(root)).digest('hex').slice(0, 12);
  return new ImageLoader({ size }, path.join(cacheRoot(), 'images', rootKey));
}
