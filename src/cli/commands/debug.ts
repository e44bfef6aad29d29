import type { Argv } from 'yargs';
import type { Device } from '../../engine/rl';
import { debugPpo, debugSchedule, debugStep, PPO_HELP, STEP_HELP } from '../../debug/kernels';
import { requirePositiveIntegers } from '../../util/numeric-options';
import { UserError } from '../../util/errors';

export function registerDebug(y: Argv): Argv {
  return y.command(
    'debug <kernel>',
    'Run one RL kernel on tensors from a file (for independent checks)',
    (a) =>
      a
        .positional('kernel', {
          choices: ['step', 'ppo', 'schedule'] as const,
          describe:
            'step: fused DDIM step with log-prob (+ backward); ppo: clipped surrogate; schedule: the DDIM timesteps and alpha-bars',
        })
        .option('in', { type: 'string', describe: 'step, ppo: input safetensors (names below)' })
        .option('out', { type: 'string', describe: 'step, ppo: output safetensors' })
        .option('scheduler-config', {
          type: 'string',
          describe: "schedule: a diffusers scheduler_config.json (default: Stable Diffusion v1.x's DDIM settings)",
        })
        .option('steps', { type: 'number', default: 50, describe: 'schedule: inference steps' })
        .option('device', {
          choices: ['cpu', 'cuda'] as const,
          default: 'cpu' as const,
          describe: 'kernel to run: the CPU reference or CUDA',
        })
        .epilogue(`debug step\n${STEP_HELP}\n\ndebug ppo\n${PPO_HELP}`),
    (args) => {
      if (args.kernel === 'schedule') {
        requirePositiveIntegers(args, ['steps']);
        for (const row of debugSchedule(args.schedulerConfig, args.steps)) console.log(JSON.stringify(row));
        return;
      }
      if (!args.in || !args.out) throw new UserError(`debug ${args.kernel} needs --in FILE and --out FILE`);
      if (args.kernel === 'step') debugStep(args.in, args.out, args.device as Device);
      else debugPpo(args.in, args.out, args.device as Device);
      console.log(`debug ${args.kernel} (${args.device}): wrote ${args.out}`);
    },
  );
}
