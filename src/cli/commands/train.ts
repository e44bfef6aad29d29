import type { Argv } from 'yargs';
import { ADVANTAGE_MODES, AdvantageMode } from '../../rl/advantages';
import { parseRewardWeights, RLCF_MODES, RlcfMode } from '../../rl/comparative-rewards';
import { runRl } from '../../rl/run-rl';
import { ACE_LR_FACTOR, AnchorNoise, parseTrainWindow, RL_DEFAULTS } from '../../rl/settings';
import { runPretrain } from '../../train/run-pretrain';
import { UserError } from '../../util/errors';
import {
  checkNumbers,
  NON_NEGATIVE_INTEGER,
  POSITIVE,
  requirePositiveIntegers,
  UNIT_INTERVAL_OPEN,
} from '../../util/numeric-options';

/** Options both stages read, with a default per stage. */
const PER_STAGE = {
  out: { pretrain: 'runs/pretrain', rl: 'runs/rl' },
  lr: { pretrain: 5e-4, rl: RL_DEFAULTS.lr },
} as const;

const D = RL_DEFAULTS;

export function registerTrain(y: Argv): Argv {
  return y.command(
    'train',
    'Pretrain a report-to-CXR diffusion model (--stage pretrain) or fine-tune it with CXRL (--stage rl)',
    (a) =>
      a
        .option('stage', {
          choices: ['pretrain', 'rl'] as const,
          demandOption: true,
          describe:
            'pretrain: the base generator; rl: CXRL policy-gradient fine-tuning with ACE and comparative feedback',
        })
        .option('data', {
          type: 'string',
          describe:
            'MIMIC-CXR-JPG root (CSVs + files/ with reports); default: the embedded synthetic dataset, made once into the cache folder',
        })
        .option('out', {
          type: 'string',
          describe: `run folder: checkpoint/, metrics.jsonl, samples/ (default ${PER_STAGE.out.pretrain} or ${PER_STAGE.out.rl})`,
        })
        .option('resume', {
          type: 'boolean',
          default: false,
          describe: 'continue OUT/checkpoint exactly (same data order and randomness)',
        })
        .option('lr', {
          type: 'number',
          describe: `AdamW learning rate of the UNet (default: pretrain ${PER_STAGE.lr.pretrain} after warm-up, and the text encoder's; rl ${PER_STAGE.lr.rl})`,
        })
        .option('seed', { type: 'number', default: 0, describe: 'seed of the init, data order and noise' })
        .option('synth-studies', {
          type: 'number',
          default: 2000,
          describe: 'studies in the embedded synthetic dataset',
        })
        .group(
          [
            'steps',
            'batch-size',
            'grad-accum',
            'ema-decay',
            'warmup',
            'image-size',
            'preset',
            'save-every',
            'sample-every',
            'text-length',
          ],
          'Pretraining (--stage pretrain):',
        )
        .option('steps', {
          type: 'number',
          default: 600,
          describe: 'optimizer steps to reach (600: about 15 minutes on two CPU cores with the small preset)',
        })
        .option('batch-size', { type: 'number', default: 8, describe: 'images per micro-batch' })
        .option('grad-accum', { type: 'number', default: 1, describe: 'micro-batches per optimizer step' })
        .option('ema-decay', {
          type: 'number',
          default: 0.999,
          describe: 'EMA of the UNet weights used for sampling (0: none); warms up as (1+step)/(10+step)',
        })
        .option('warmup', { type: 'number', default: 50, describe: 'linear warm-up steps' })
        .option('image-size', { type: 'number', default: 64, describe: 'training resolution (square, grayscale)' })
        .option('preset', {
          type: 'string',
          default: 'small',
          describe: 'UNet preset (small, tiny, mid) or a diffusers config.json',
        })
        .option('save-every', {
          type: 'number',
          default: 200,
          describe: 'checkpoint every N steps (and at the end, and on Ctrl-C)',
        })
        .option('sample-every', { type: 'number', default: 200, describe: 'sample grid PNG every N steps (0: never)' })
        .option('text-length', { type: 'number', default: 48, describe: 'tokens per report (truncated / padded)' })
        .group(
          [
            'init',
            'rewards',
            'epochs',
            'prompts-per-epoch',
            'samples-per-prompt',
            'sample-steps',
            'eta',
            'guidance-scale',
            'train-batch-size',
            'inner-epochs',
            'timestep-fraction',
            'clip-range',
            'adv-clip-max',
            'weight-decay',
            'max-grad-norm',
            'ace',
            'ace-tokens',
            'ace-lr',
            'lora-rank',
            'rlcf',
            'reward-weights',
            'advantage',
            'anchor-noise',
            'kl-weight',
            'train-window',
            'eval-every',
            'eval-reports',
          ],
          'CXRL fine-tuning (--stage rl):',
        )
        .option('init', {
          type: 'string',
          describe:
            'the model to fine-tune (and the frozen anchor): a checkpoint made by train, e.g. runs/pretrain/checkpoint',
        })
        .option('rewards', {
          type: 'string',
          array: true,
          describe:
            'reward models: ONNX files with contracts, or folders of them (any of posture, classifier, consistency); default: the three default models, fitted once into the cache folder',
        })
        .option('epochs', { type: 'number', default: D.epochs, describe: 'epochs to reach (sample, score, update)' })
        .option('prompts-per-epoch', {
          type: 'number',
          default: D.promptsPerEpoch,
          describe: 'training reports per epoch',
        })
        .option('samples-per-prompt', {
          type: 'number',
          default: D.samplesPerPrompt,
          describe: 'images per report per epoch (k)',
        })
        .option('sample-steps', { type: 'number', default: D.sampleSteps, describe: 'DDIM steps of each trajectory' })
        .option('eta', {
          type: 'number',
          default: D.eta,
          describe: 'DDIM eta of the trajectories (> 0: stochastic steps with log-probabilities)',
        })
        .option('guidance-scale', {
          type: 'number',
          default: D.guidanceScale,
          describe: 'classifier-free guidance scale, in sampling and re-scoring',
        })
        .option('train-batch-size', {
          type: 'number',
          default: D.trainBatchSize,
          describe: 'trajectories per optimizer step',
        })
        .option('inner-epochs', {
          type: 'number',
          default: D.innerEpochs,
          describe: "PPO passes over each epoch's trajectories",
        })
        .option('timestep-fraction', {
          type: 'number',
          default: D.timestepFraction,
          describe: "fraction of each trajectory's steps trained (shuffled per sample)",
        })
        .option('clip-range', { type: 'number', default: D.clipRange, describe: 'PPO ratio clip range' })
        .option('adv-clip-max', { type: 'number', default: D.advClipMax, describe: 'advantages clipped to +/- this' })
        .option('weight-decay', { type: 'number', default: D.weightDecay, describe: 'AdamW weight decay of the UNet' })
        .option('max-grad-norm', {
          type: 'number',
          default: D.maxGradNorm,
          describe: 'joint gradient-norm clip of the UNet and ACE (0: none)',
        })
        .option('ace', {
          type: 'boolean',
          default: true,
          describe: 'train adaptive condition embeddings (--no-ace: the policy sees the plain prompt)',
        })
        .option('ace-tokens', {
          type: 'number',
          default: D.aceTokens,
          describe: 'ACE tokens appended after the prompt tokens',
        })
        .option('ace-lr', {
          type: 'number',
          describe: `Adam learning rate of the ACE tokens (default ${ACE_LR_FACTOR}x --lr)`,
        })
        .option('lora-rank', {
          type: 'number',
          default: D.loraRank,
          describe:
            'train LoRA adapters of this rank on the attention projections instead of every UNet weight (0: full fine-tuning); saved as pytorch_lora_weights.safetensors',
        })
        .option('rlcf', {
          choices: RLCF_MODES,
          default: D.rlcf,
          describe: 'comparative feedback: diff s(x)-s(x_hat), sign of it, or direct s(x) (no anchor)',
        })
        .option('reward-weights', {
          type: 'string',
          default: 'align=1,diag=1,cons=1',
          describe: 'weights of the three rewards in the total',
        })
        .option('advantage', {
          choices: ADVANTAGE_MODES,
          default: D.advantage,
          describe:
            'per-prompt (DDPO tracker: last 32 rewards per prompt, batch statistics below 16), group (within the k samples of a report) or batch',
        })
        .option('anchor-noise', {
          choices: ['same', 'independent'] as const,
          default: D.anchorNoise,
          describe: "anchor images from the policy's noise, or from their own",
        })
        .option('kl-weight', {
          type: 'number',
          default: D.klWeight,
          describe: 'beta of an optional KL(policy || anchor) trust region per trained step (0: none, as in the paper)',
        })
        .option('train-window', {
          type: 'string',
          describe: 'FIRST:LAST: train only these inference steps (eta there, eta 0 elsewhere); default: all',
        })
        .option('eval-every', {
          type: 'number',
          default: D.evalEvery,
          describe: 'held-out policy-vs-anchor evaluation every N epochs (and at the end)',
        })
        .option('eval-reports', {
          type: 'number',
          default: D.evalReports,
          describe: 'validate-split reports in the held-out evaluation',
        })
        .option('precision', {
          choices: ['fp32', 'bf16'] as const,
          default: 'fp32' as const,
          describe: "the GPU's matrix products: bf16 operands with fp32 accumulation (needs --device cuda)",
        })
        .option('device', {
          choices: ['cpu', 'cuda', 'auto'] as const,
          default: 'cpu' as const,
          describe:
            "where the models run (cuda: the engine's CUDA backend; pretraining: UNet, EMA and text encoder) and ONNX Runtime's execution provider; auto: CUDA when usable",
        }),
    async (args) => {
      const stage = args.stage;
      const out = args.out ?? PER_STAGE.out[stage];
      const lr = args.lr ?? PER_STAGE.lr[stage];
      checkNumbers({ lr, seed: args.seed }, { lr: POSITIVE, seed: NON_NEGATIVE_INTEGER });
      requirePositiveIntegers(args, ['synthStudies']);
      if (stage === 'pretrain') {
        requirePositiveIntegers(args, ['steps', 'batchSize', 'gradAccum', 'imageSize', 'saveEvery', 'textLength']);
        checkNumbers(args, {
          warmup: NON_NEGATIVE_INTEGER,
          sampleEvery: NON_NEGATIVE_INTEGER,
          emaDecay: UNIT_INTERVAL_OPEN,
        });
        await runPretrain({ ...args, out, lr });
        return;
      }
      if (!args.init && !args.resume)
        throw new UserError('train --stage rl needs --init MODEL (e.g. runs/pretrain/checkpoint)');
      await runRl({
        init: args.init ?? '',
        rewards: args.rewards,
        data: args.data,
        out,
        resume: args.resume,
        device: args.device,
        precision: args.precision,
        synthStudies: args.synthStudies,
        settings: {
          epochs: args.epochs,
          promptsPerEpoch: args.promptsPerEpoch,
          samplesPerPrompt: args.samplesPerPrompt,
          sampleSteps: args.sampleSteps,
          eta: args.eta,
          guidanceScale: args.guidanceScale,
          trainBatchSize: args.trainBatchSize,
          innerEpochs: args.innerEpochs,
          timestepFraction: args.timestepFraction,
          clipRange: args.clipRange,
          advClipMax: args.advClipMax,
          lr,
          weightDecay: args.weightDecay,
          maxGradNorm: args.maxGradNorm,
          aceTokens: args.ace ? args.aceTokens : 0,
          aceLr: args.aceLr ?? ACE_LR_FACTOR * lr,
          loraRank: args.loraRank,
          rlcf: args.rlcf as RlcfMode,
          rewardWeights: parseRewardWeights(args.rewardWeights),
          advantage: args.advantage as AdvantageMode,
          anchorNoise: args.anchorNoise as AnchorNoise,
          klWeight: args.klWeight,
          trainWindow: parseTrainWindow(args.trainWindow, args.sampleSteps),
          evalEvery: args.evalEvery,
          evalReports: args.evalReports,
          seed: args.seed,
        },
      });
    },
  );
}
