import type { Argv } from 'yargs';
import { UserError } from '../../util/errors';

/** Commands of the design that are not implemented yet: listed in --help, and say so plainly. */
const PLANNED: [string, string][] = [
  ['eval', 'Evaluate generated images: --fid, MS-SSIM, AUROC (not built yet)'],
];

export function registerPlanned(y: Argv): Argv {
  for (const [name, describe] of PLANNED) {
    y = y.command(`${name} [args..]`, describe, (a) => a.strict(false), () => {
      throw new UserError(`'${name}' is not built yet in this version of cxrl-native; see the README for what works today`);
    });
  }
  return y;
}
