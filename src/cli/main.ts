import yargs from 'yargs';
import { registerInfo } from './commands/info';
import { registerUNet } from './commands/unet';
import { registerEval } from './commands/eval';
import { registerDebug } from './commands/debug';
import { registerData } from './commands/data';
import { registerTrain } from './commands/train';
import { registerGenerate } from './commands/generate';
import { registerReward } from './commands/reward';
import { UserError } from '../util/errors';
import { packageVersion } from '../util/paths';

export function buildCli(argv: string[]) {
  let y = yargs(argv)
    .scriptName('cxrl-native')
    .usage(
      '$0 <command> [options]\n\nTrain, RL-fine-tune (CXRL), sample and evaluate report-to-chest-X-ray diffusion models.',
    )
    .version(packageVersion())
    .strict()
    .demandCommand(1, 'give a command; see --help')
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns || 110));
  y = registerInfo(y);
  y = registerUNet(y);
  y = registerDebug(y);
  y = registerData(y);
  y = registerTrain(y);
  y = registerGenerate(y);
  y = registerReward(y);
  y = registerEval(y);
  return y.fail((msg, err) => {
    if (err) throw err;
    throw new UserError(msg);
  });
}

/** Flags that may be given more than once (each adds a value). */
const REPEATABLE_FLAGS = new Set(['prompt', 'rewards']);

/**
 * Refuses a flag given twice: yargs would turn `--n 2 --n 1` into 3 or an array, never "the last
 * one wins", so the only safe reading is none.
 */
export function rejectRepeatedFlags(argv: string[]): void {
  const seen = new Set<string>();
  for (const token of argv) {
    if (token === '--') break;
    const m = /^--(?:no-)?([^=]+)/.exec(token);
    if (!m) continue;
    const name = m[1].replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
    if (REPEATABLE_FLAGS.has(name)) continue;
    if (seen.has(name)) throw new UserError(`--${name} is given more than once; give it once`);
    seen.add(name);
  }
}

export async function main(argv: string[]): Promise<void> {
  try {
    rejectRepeatedFlags(argv);
    await buildCli(argv).parseAsync();
  } catch (e) {
    const err = e as Error;
    if (err instanceof UserError || err.name === 'UserError' || err.name === 'YError') {
      console.error(`cxrl-native: ${err.message}`);
      process.exitCode = 2;
    } else {
      console.error(err.stack ?? String(err));
      process.exitCode = 1;
    }
  }
}
