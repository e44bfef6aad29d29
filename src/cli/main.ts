import yargs from 'yargs';
import { registerInfo } from './commands/info';
import { registerUNet } from './commands/unet';
import { registerVae } from './commands/vae';
import { registerEval } from './commands/eval';
import { registerDebug } from './commands/debug';
import { registerData } from './commands/data';
import { registerTrain } from './commands/train';
import { registerGenerate } from './commands/generate';
import { registerReward } from './commands/reward';
import { registerPlot } from './commands/plot';
import { configureSharpThreads } from '../engine/thread-budget';
import { UserError } from '../util/errors';
import { editDistance } from '../util/edit-distance';
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
    .middleware(() => configureSharpThreads()) // before any command's image work
    .wrap(Math.min(110, process.stdout.columns || 110));
  y = registerInfo(y);
  y = registerUNet(y);
  y = registerVae(y);
  y = registerDebug(y);
  y = registerData(y);
  y = registerTrain(y);
  y = registerGenerate(y);
  y = registerReward(y);
  y = registerEval(y);
  y = registerPlot(y);
  return y.fail((msg, err, usage: unknown) => {
    if (err) throw err;
    // One line, with a suggestion for a mistyped flag.
    let line = msg.replace(/\s*\n\s*/g, ' ');
    const unknown = /^Unknown arguments?: (.*)$/.exec(line);
    if (unknown) {
      const known = optionNames(usage);
      const hints = unknown[1].split(', ').flatMap((u) => {
        const near = closest(u, known);
        return near ? [`--${u} -> --${near}?`] : [];
      });
      if (hints.length) line += ` (did you mean: ${hints.join(', ')})`;
    }
    throw new UserError(line);
  });
}

/** yargs passes its usage object to fail(); its descriptions name every option of the command. */
function optionNames(usage: unknown): string[] {
  const u = usage as { getDescriptions?: () => Record<string, unknown> };
  return typeof u?.getDescriptions === 'function' ? Object.keys(u.getDescriptions()) : [];
}

/** The known option nearest to a typo (edit distance at most 2), if any. */
function closest(typo: string, known: string[]): string | null {
  let best: string | null = null,
    bestD = 3;
  for (const k of known) {
    const d = editDistance(typo, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best;
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

/**
 * `--flag -1e9` as `--flag=-1e9`: yargs would read a negative number in exponent form as short
 * flags (-1, -e, -9) instead of the flag's value.
 */
export function joinNegativeNumbers(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1];
    if (/^--[^=]+$/.test(argv[i]) && next !== undefined && /^-(\d|\.\d)/.test(next) && Number.isFinite(Number(next))) {
      out.push(`${argv[i]}=${next}`);
      i++;
    } else out.push(argv[i]);
  }
  return out;
}

export async function main(argv: string[]): Promise<void> {
  try {
    rejectRepeatedFlags(argv);
    await buildCli(joinNegativeNumbers(argv)).parseAsync();
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
