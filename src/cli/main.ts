import yargs from 'yargs';
import { registerInfo } from './commands/info';
import { registerUNet } from './commands/unet';
import { registerPlanned } from './commands/planned';
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
    .usage('$0 <command> [options]\n\nTrain, RL-fine-tune (CXRL), sample and evaluate report-to-chest-X-ray diffusion models.')
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
  y = registerPlanned(y);
  return y.fail((msg, err) => {
    if (err) throw err;
    throw new UserError(msg);
  });
}

export async function main(argv: string[]): Promise<void> {
  try {
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
