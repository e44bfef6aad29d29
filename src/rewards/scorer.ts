/**
 * The three CXRL rewards from a set of contract-described ONNX models: r_align from a posture
 * model, s_diag from a classifier against the report's labels, s_cons from a consistency image
 * model and its paired text model. `reward score` and the RL stage share this code path.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CHEXPERT_LABELS } from '../data/labels';
import type { OrtDevice } from '../onnx/runtime';
import { UserError } from '../util/errors';
import { readContract } from './contract';
import { ImageRewardModel, TextRewardModel } from './reward-model';
import { cosine, rAlign, sDiag } from './scores';

export interface ImageScores {
  r_align: number | null;
  s_diag: number | null;
  s_cons: number | null;
}

export interface ScoreSummary {
  perImage: ImageScores[];
  means: ImageScores;
  /** with a classifier: its probabilities per image in CheXpert order (what s_diag was computed from) */
  probabilities: number[][] | null;
}

/** The ONNX files named, or found (with contracts) in the folders named. */
export function findModelFiles(items: string[]): string[] {
  const files: string[] = [];
  for (const it of items) {
    if (!fs.existsSync(it)) throw new UserError(`${it}: no such file or folder`);
    if (fs.statSync(it).isDirectory()) {
      for (const f of fs.readdirSync(it).sort())
        if (f.endsWith('.onnx') && fs.existsSync(path.join(it, `${f}.json`))) files.push(path.join(it, f));
    } else files.push(it);
  }
  return files;
}

/** Each score's mean over the images that have it (null when none has). */
export function meanScores(per: ImageScores[]): ImageScores {
  const mean = (k: keyof ImageScores) => {
    const v = per.map((s) => s[k]).filter((x): x is number => x !== null);
    return v.length ? v.reduce((a, c) => a + c, 0) / v.length : null;
  };
  return { r_align: mean('r_align'), s_diag: mean('s_diag'), s_cons: mean('s_cons') };
}

/** The square side an image model is fed at (the larger of its contract's height and width). */
function sideOf(m: ImageRewardModel): number {
  return Math.max(...m.contract.input!.size);
}

export class RewardScorer {
  private constructor(
    readonly posture: ImageRewardModel | null,
    readonly classifier: ImageRewardModel | null,
    readonly consistency: { image: ImageRewardModel; text: TextRewardModel } | null,
    /** CheXpert index -> classifier output columns mapped to it */
    private readonly chexColumns: number[][],
  ) {}

  static async open(items: string[], device: OrtDevice = 'cpu'): Promise<RewardScorer> {
    const files = findModelFiles(items);
    let posture: ImageRewardModel | null = null,
      classifier: ImageRewardModel | null = null;
    let consistency: { image: ImageRewardModel; text: TextRewardModel } | null = null;
    for (const f of files) {
      const kind = readContract(f).kind;
      if (kind === 'posture' && !posture) posture = await ImageRewardModel.open(f, device);
      else if (kind === 'classifier' && !classifier) classifier = await ImageRewardModel.open(f, device);
      else if (kind === 'consistency-image' && !consistency) {
        const image = await ImageRewardModel.open(f, device);
        const pair = path.resolve(path.dirname(f), image.contract.pair!);
        consistency = { image, text: await TextRewardModel.open(pair, device) };
      }
    }
    if (!posture && !classifier && !consistency)
      throw new UserError(
        `no posture, classifier or consistency-image model among ${files.length ? files.join(', ') : items.join(', ')}`,
      );
    const cols: number[][] = CHEXPERT_LABELS.map(() => []);
    if (classifier) {
      const c = classifier.contract;
      c.labels!.forEach((l, j) => {
        const target = c.label_map![l];
        if (target) cols[(CHEXPERT_LABELS as readonly string[]).indexOf(target)].push(j);
      });
    }
    return new RewardScorer(posture, classifier, consistency, cols);
  }

  /** The image side each image model reads, in the order score() asks images() for them. */
  imageSides(): number[] {
    return [this.posture, this.classifier, this.consistency?.image].filter((m) => m).map((m) => sideOf(m!));
  }

  /**
   * images(S): [B, S*S] in [-1, 1] at side S (called once per size the models want; generated
   * images can simply be resampled). reports and labels are per image; labels in CheXpert order.
   */
  async score(
    B: number,
    images: (size: number) => Promise<{ data: Float32Array; size: number }>,
    reports: string[],
    labels: Int8Array[],
  ): Promise<ScoreSummary> {
    const per: ImageScores[] = Array.from({ length: B }, () => ({ r_align: null, s_diag: null, s_cons: null }));
    const run = async (m: ImageRewardModel) => {
      const im = await images(sideOf(m));
      return m.run(im.data, B, im.size);
    };
    if (this.posture) {
      const psi = (await run(this.posture)).psi;
      for (let b = 0; b < B; b++) per[b].r_align = rAlign(psi.data, b * 5);
    }
    let probabilities: number[][] | null = null;
    if (this.classifier) {
      probabilities = await this.chexpertProbabilities(await images(sideOf(this.classifier)), B);
      for (let b = 0; b < B; b++) per[b].s_diag = sDiag(probabilities[b], labels[b]);
    }
    if (this.consistency) {
      const im = (await run(this.consistency.image)).embedding;
      const tx = await this.consistency.text.embed(reports);
      if (im.width !== tx.width)
        throw new UserError(
          `${this.consistency.image.file}: image embeddings of width ${im.width}, its text model gives ${tx.width}`,
        );
      for (let b = 0; b < B; b++) per[b].s_cons = cosine(im.data, b * im.width, tx.data, b * tx.width, im.width);
    }
    return { perImage: per, means: meanScores(per), probabilities };
  }

  /**
   * The classifier's probabilities per image in CheXpert order (NaN for labels it has no output
   * mapped to; several outputs mapped to one label: their maximum).
   */
  private async chexpertProbabilities(im: { data: Float32Array; size: number }, B: number): Promise<number[][]> {
    if (!this.classifier) throw new UserError('no classifier model is loaded');
    const out = await this.classifier.run(im.data, B, im.size);
    const probs = out.probabilities?.data ?? out.logits.data.map((z) => 1 / (1 + Math.exp(-z)));
    const width = (out.probabilities ?? out.logits).width;
    return Array.from({ length: B }, (_, b) =>
      this.chexColumns.map((cols) => (cols.length ? Math.max(...cols.map((j) => probs[b * width + j])) : NaN)),
    );
  }

  /** Scores in-memory generator output [B, S*S] in [-1, 1] (the RL stage's path): each model's contract resamples it. */
  scoreGenerated(
    images: Float32Array,
    B: number,
    S: number,
    reports: string[],
    labels: Int8Array[],
  ): Promise<ScoreSummary> {
    return this.score(B, async () => ({ data: images, size: S }), reports, labels);
  }
}
