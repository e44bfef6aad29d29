/**
 * Shared test fixtures: the micro UNet config the fast tests train and sample with, and a CLI
 * fixture (a synthetic dataset, a micro pretrained checkpoint and, when asked, the three reward
 * models fitted for a few steps) made through the CLI as a user would, in the test's temp folder.
 */
import * as fs from 'fs';
import * as path from 'path';
import { runCli, tmpDir } from './helpers';

/** 16x16 grayscale, two levels of 16 channels, cross-attention at the top level. */
export const MICRO_UNET = {
  in_channels: 1,
  out_channels: 1,
  sample_size: 16,
  block_out_channels: [16, 16],
  down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
  layers_per_block: 1,
  attention_head_dim: 2,
  cross_attention_dim: 16,
  norm_num_groups: 4,
};

export interface CliFixture {
  work: string;
  data: string;
  /** the micro pretrained checkpoint */
  init: string;
  /** folder of the three reward models (with rewards: true) */
  rewards: string;
  env: () => NodeJS.ProcessEnv;
  /** runs the CLI; throws with its stderr unless it exits 0 */
  ok: (args: string[]) => ReturnType<typeof runCli>;
}

export function makeCliFixture(prefix: string, o: { studies: number; rewards: boolean }): CliFixture {
  const work = tmpDir(prefix);
  const env = () => ({ CXRL_CACHE_DIR: path.join(work, 'cache') });
  const ok = (args: string[]) => {
    const r = runCli(args, env());
    if (r.status !== 0) throw new Error(`cxrl-native ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
    return r;
  };
  const data = path.join(work, 'data');
  ok(['data', 'synth', '--out', data, '--studies', String(o.studies), '--size', '64']);
  fs.writeFileSync(path.join(work, 'unet.json'), JSON.stringify(MICRO_UNET));
  ok([
    'train',
    '--stage',
    'pretrain',
    '--data',
    data,
    '--out',
    path.join(work, 'pre'),
    '--preset',
    path.join(work, 'unet.json'),
    '--image-size',
    '16',
    '--steps',
    '3',
    '--batch-size',
    '4',
    '--text-length',
    '12',
    '--sample-every',
    '0',
  ]);
  const rewards = path.join(work, 'rewards');
  if (o.rewards) {
    for (const kind of ['posture', 'classifier', 'consistency']) {
      ok([
        'reward',
        'fit',
        '--kind',
        kind,
        '--data',
        data,
        '--out',
        path.join(rewards, `${kind}.onnx`),
        '--steps',
        '3',
        '--image-size',
        '16',
        '--batch-size',
        '8',
      ]);
    }
  }
  return { work, data, init: path.join(work, 'pre', 'checkpoint'), rewards, env, ok };
}
