/**
 * The three default reward models (posture, classifier, consistency) fitted once per dataset into
 * the cache folder, with `reward fit`'s defaults, on first use by `train --stage rl` (and `eval`)
 * when no --rewards is given. The folder is written under a temporary name and renamed when all
 * three are done, so an interrupted fit is redone rather than half-used. The classifier fit also
 * writes classifier-features.onnx, the `features` model that `eval` uses for FID by default.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { cacheRoot } from '../data/cache';
import { describeFit, REWARD_FIT_DEFAULTS, RewardKind, runRewardFit } from './run-fit';

/** Bump when the fitting recipe changes, so stale cached models are not reused. */
const DEFAULT_MODELS_VERSION = 2;

export async function defaultRewardModels(
  dataRoot: string,
  log: (line: string) => void = (l) => console.error(l),
): Promise<string> {
  const key = crypto.createHash('sha256').update(path.resolve(dataRoot)).digest('hex').slice(0, 12);
  const dir = path.join(cacheRoot(), `rewards-v${DEFAULT_MODELS_VERSION}-${key}`);
  if (fs.existsSync(path.join(dir, 'DONE'))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  log(`fitting the default reward models once into ${dir} (about 4 minutes on two cores)`);
  for (const kind of ['posture', 'classifier', 'consistency'] as RewardKind[]) {
    const report = await runRewardFit({
      kind,
      data: dataRoot,
      out: path.join(tmp, `${kind}.onnx`),
      ...REWARD_FIT_DEFAULTS,
    });
    log(describeFit(report).split(tmp).join(dir));
  }
  fs.writeFileSync(path.join(tmp, 'DONE'), `${new Date().toISOString()}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return dir;
}
