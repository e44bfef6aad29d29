/**
 * `cxrl-native train --stage rl`: CXRL fine-tuning of a pretrained generator. Reads the init model
 * (the trainable policy) and its UNet a second time (the frozen anchor), opens the reward models (or fits the default
 * ones once into the cache folder), then runs epochs with a checkpoint after each, the held-out
 * policy-vs-anchor evaluation every --eval-every epochs (and at the end) with a side-by-side grid,
 * metrics.jsonl, progress per phase, and SIGINT/SIGTERM that stop at the next epoch boundary.
 */
import { Precision, requireSingleProcess, configureEngine } from '../engine/device';
import * as fs from 'fs';
import * as path from 'path';
import { embeddedDataset } from '../data/cache';
import { engineSummary, loadAddon } from '../engine/native';
import { refreshMetricsPlot } from '../plot/metrics-plot';
import { fixedOrNa as fmt } from '../util/format';
import { engineCall } from '../engine/native-errors';
import { loadUNetWeights } from '../engine/unet';
import { enableLora, LORA_FILE, loadLora } from '../engine/lora';
import { loadGenerator, reloadUNet } from '../generation/generator';
import { squareSide } from '../generation/sample-decoder';
import { toBytes, writeGrid } from '../generation/sampling';
import type { OrtDevice } from '../onnx/runtime';
import { defaultRewardModels } from '../rewards/default-models';
import { RewardScorer } from '../rewards/scorer';
import { UserError } from '../util/errors';
import { Progress } from '../util/progress';
import { AceTokens } from './ace';
import { PerPromptStatTracker } from './advantages';
import { describeInit, loadAce, policyWeightsFile, readRlCheckpointState, saveRlCheckpoint } from './checkpoint';
import { REWARD_COMPONENTS } from './comparative-rewards';
import { evalReports, loadReportsBySplit } from './prompts';
import { changedSettings, checkRlSettings, RlSettings } from './settings';
import {
  checkFreshRunFolder,
  refuseChangedSettings,
  removeStaleCheckpointTemps,
  StopSignals,
  truncateMetrics,
} from '../train/run-lifecycle';
import { createPolicyOptimizer, EvalMetrics, Phase, RlState, RlTrainer } from './trainer';

export interface RlArgs {
  init: string;
  rewards?: string[];
  data?: string;
  out: string;
  resume: boolean;
  device: OrtDevice;
  /** the device GEMMs' precision (src/engine/device.ts) */
  precision: Precision;
  synthStudies: number;
  /** validated settings without textLength (read from the init) */
  settings: Omit<RlSettings, 'textLength'>;
}

/** Every reward with a weight above 0 needs its model. */
function checkRewardModels(scorer: RewardScorer, s: RlSettings, files: string[]): void {
  const have = { posture: scorer.posture, classifier: scorer.classifier, 'consistency-image': scorer.consistency };
  for (const c of REWARD_COMPONENTS) {
    if (s.rewardWeights[c.weight] > 0 && !have[c.model]) {
      throw new UserError(
        `--reward-weights gives ${c.weight} weight ${s.rewardWeights[c.weight]}, but no ${c.model} model is among ${files.join(', ')} (set ${c.weight}=0 or add the model)`,
      );
    }
  }
}

export function describeEval(m: EvalMetrics): string {
  const lines = [
    `held-out evaluation after epoch ${m.epoch} (${m.reports} validate reports, same noise for policy and anchor):`,
  ];
  for (const [k, c] of Object.entries(m.components)) {
    lines.push(
      c
        ? `  ${k.padEnd(8)} policy ${fmt(c.policy)}  anchor ${fmt(c.anchor)}  diff ${fmt(c.diff, 4)} ± ${fmt(c.se, 4)} (t = ${fmt(c.t, 2)}, n = ${c.n})`
        : `  ${k.padEnd(8)} n/a`,
    );
  }
  return lines.join('\n');
}

export async function runRl(a: RlArgs): Promise<void> {
  configureEngine(a.precision, a.device);
  requireSingleProcess('train --stage rl');
  checkRlSettings({ ...a.settings, textLength: 1 }); // every flag checked before anything is read or written
  const root = a.data ?? (await embeddedDataset(a.synthStudies, 0));
  const ckpt = path.join(a.out, 'checkpoint');
  const metricsFile = path.join(a.out, 'metrics.jsonl');
  const saved = a.resume ? readRlCheckpointState(ckpt) : null;
  if (!a.resume) checkFreshRunFolder(a.out);
  const init = saved ? saved.init.dir : a.init;
  if (saved && a.init && path.resolve(a.init) !== saved.init.dir)
    throw new UserError(`--init ${a.init} differs from the run's init ${saved.init.dir}`);

  // Models: the policy (trainable) and the anchor (frozen) both start from the init's weights.
  const policy = await loadGenerator(init, { device: a.device });
  const anchor = { ...policy, unet: reloadUNet(policy) };
  const initInfo = describeInit(init, policy);
  if (saved && saved.init.sha256 !== initInfo.sha256)
    throw new UserError(
      `${initInfo.weights} changed since the run started (SHA-256 differs): the anchor would not be the same model`,
    );
  const [, textLength, width] = (await policy.encodeText([''])).context.shape;
  const settings = checkRlSettings({ ...a.settings, textLength });
  if (saved) {
    refuseChangedSettings(changedSettings(saved.settings, settings), ['--epochs', '--eval-every']);
  }

  const rewardItems = a.rewards?.length ? a.rewards : [await defaultRewardModels(root)];
  const scorer = await RewardScorer.open(rewardItems, a.device);
  checkRewardModels(scorer, settings, rewardItems);
  const bySplit = loadReportsBySplit(root, ['train', 'validate']);
  const reports = bySplit.train;
  const evalSet = evalReports(bySplit.validate, settings.evalReports, root);

  let ace: AceTokens | null = null;
  if (settings.aceTokens > 0) {
    if (saved) ace = loadAce(ckpt);
    else if (policy.ace) {
      if (policy.ace.count !== settings.aceTokens)
        throw new UserError(
          `${init} has ${policy.ace.count} ACE tokens; --ace-tokens ${settings.aceTokens} differs (use --ace-tokens ${policy.ace.count})`,
        );
      ace = new AceTokens(policy.ace.count, width, Float32Array.from(policy.ace.tokens));
    } else ace = AceTokens.init(settings.aceTokens, width, settings.seed + 17);
  }
  if (settings.loraRank > 0) {
    if (policy.unet.loraRank() === 0) enableLora(policy.unet, settings.loraRank);
    else if (policy.unet.loraRank() !== settings.loraRank)
      throw new UserError(
        `${init} has LoRA adapters of rank ${policy.unet.loraRank()}; --lora-rank ${settings.loraRank} differs (use --lora-rank ${policy.unet.loraRank()})`,
      );
  } else if (policy.unet.loraRank() > 0)
    throw new UserError(
      `${init} has LoRA adapters (rank ${policy.unet.loraRank()}): continue with --lora-rank ${policy.unet.loraRank()} (full fine-tuning over adapters is not supported)`,
    );
  if (saved) {
    if (settings.loraRank > 0) loadLora(policy.unet, path.join(ckpt, LORA_FILE));
    else loadUNetWeights(policy.unet, policyWeightsFile(ckpt, policy.kind));
  }
  const optimizer = createPolicyOptimizer(policy, settings);
  if (saved) engineCall(() => optimizer.loadState(path.join(ckpt, 'optimizer.safetensors')));
  const tracker = saved ? PerPromptStatTracker.fromState(saved.tracker) : new PerPromptStatTracker();
  const state: RlState = saved
    ? { ...saved.state, cursor: { ...saved.state.cursor } }
    : { epoch: 0, step: 0, cursor: { pass: 0, offset: 0 } };
  const trainer = new RlTrainer(policy, anchor, scorer, optimizer, ace, tracker, settings, state);

  fs.mkdirSync(a.out, { recursive: true });
  if (saved) {
    truncateMetrics(metricsFile, (m) => m.kind === 'run' || (typeof m.epoch === 'number' && m.epoch <= state.epoch));
    removeStaleCheckpointTemps(a.out);
    console.error(`resuming ${ckpt} after epoch ${state.epoch}`);
  }
  console.error(engineSummary());
  console.error(
    `train --stage rl: ${settings.epochs} epochs of ${settings.promptsPerEpoch} reports x ${settings.samplesPerPrompt} samples, ${settings.sampleSteps} steps, ` +
      `guidance ${settings.guidanceScale}, eta ${settings.eta}, RLCF ${settings.rlcf}, ACE ${ace ? ace.count + ' tokens' : 'off'}; rewards ${rewardItems.join(', ')}`,
  );

  const stop = new StopSignals('epoch');
  const metrics = fs.openSync(metricsFile, 'a');
  fs.writeSync(
    metrics,
    JSON.stringify({
      kind: 'run',
      started: new Date().toISOString(),
      resumed_after_epoch: saved ? state.epoch : null,
      engine: loadAddon().info(),
      settings,
    }) + '\n',
  );
  let bar: { phase: Phase; p: Progress } | null = null;
  const onPhase = (e: number) => (phase: Phase, done: number, total: number) => {
    if (!bar || bar.phase !== phase)
      bar = {
        phase,
        p: new Progress(
          `epoch ${e}/${settings.epochs} ${phase}`,
          total,
          phase === 'training' ? 'step-batches' : 'steps',
        ),
      };
    bar.p.update(done);
  };
  const evaluate = async () => {
    const r = await trainer.evaluate(evalSet, { onPhase: onPhase(state.epoch) });
    fs.writeSync(metrics, JSON.stringify({ kind: 'eval', ...r.metrics }) + '\n');
    console.error(describeEval(r.metrics));
    const size = squareSide(policy.decoder, init),
      per = size * size,
      cols = Math.min(8, evalSet.length);
    const row = (x: Float32Array) =>
      Array.from({ length: cols }, (_, i) => toBytes(x.subarray(i * per, (i + 1) * per)));
    await writeGrid(
      [...row(r.anchor), ...row(r.policy)],
      size,
      size,
      path.join(a.out, 'samples', `epoch-${state.epoch}.png`),
      cols,
    );
    return r.metrics;
  };
  try {
    while (state.epoch < settings.epochs && !stop.requested) {
      const m = await trainer.epoch(reports, { onPhase: onPhase(state.epoch + 1) });
      bar = null;
      fs.writeSync(metrics, JSON.stringify({ kind: 'epoch', ...m }) + '\n');
      console.error(
        `epoch ${m.epoch}: reward ${fmt(m.reward.total)} (align ${fmt(m.reward.align)}, diag ${fmt(m.reward.diag)}, cons ${fmt(m.reward.cons)}), ` +
          `loss ${m.loss.toExponential(2)}, approx_kl ${m.approx_kl.toExponential(2)}, clipfrac ${fmt(m.clipfrac, 2)}, ${m.seconds.total.toFixed(0)} s`,
      );
      saveRlCheckpoint(ckpt, initInfo, policy, optimizer, ace, tracker, settings, state);
      if (state.epoch % settings.evalEvery === 0 || state.epoch === settings.epochs) await evaluate();
      await refreshMetricsPlot(a.out);
      bar = null;
    }
  } finally {
    stop.finish();
    fs.closeSync(metrics);
  }
  console.log(
    `train --stage rl: epoch ${state.epoch}/${settings.epochs}; checkpoint ${ckpt}${stop.requested ? ' (interrupted; --resume continues)' : ''}`,
  );
}
