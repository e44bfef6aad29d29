/**
 * The ground truth of a synthetic study: its CheXpert labels and the concrete findings behind them
 * (side, severity, devices). The report text and the phantom images are both derived from it, so
 * the text and the pixels agree with the labels.
 */
import type { Rng } from '../util/random';
import { CHEXPERT_LABELS, ChexpertLabel, emptyLabels, labelIndex, LabelCode, NEGATIVE, NOT_MENTIONED, POSITIVE, UNCERTAIN } from './labels';

export type Side = 'right' | 'left' | 'bilateral';

export interface StudyFacts {
  labels: Int8Array; // CHEXPERT_LABELS order, codes from labels.ts
  /** Rendered severity per label in [0, 1] (0: not drawn). Uncertain labels are sometimes drawn mildly. */
  severity: Record<ChexpertLabel, number>;
  side: Record<ChexpertLabel, Side>;
  devices: { etTube: boolean; centralLine: boolean; pacemaker: boolean };
  fracturedRib: number; // 0-based posterior rib index, -1 none
  noduleCm: number;
}

/** Prevalence of each finding being positive in a study that is not "No Finding". */
const PREVALENCE: Partial<Record<ChexpertLabel, number>> = {
  Atelectasis: 0.22, Cardiomegaly: 0.22, Consolidation: 0.1, Edema: 0.14, 'Enlarged Cardiomediastinum': 0.05,
  Fracture: 0.05, 'Lung Lesion': 0.05, 'Pleural Effusion': 0.25, 'Pleural Other': 0.03, Pneumonia: 0.1,
  Pneumothorax: 0.07, 'Support Devices': 0.2,
};

const OPACITY_CAUSES: ChexpertLabel[] = ['Consolidation', 'Pneumonia', 'Edema', 'Atelectasis', 'Lung Lesion'];

export function sampleStudyFacts(rng: Rng): StudyFacts {
  const labels = emptyLabels();
  const severity = Object.fromEntries(CHEXPERT_LABELS.map((l) => [l, 0])) as Record<ChexpertLabel, number>;
  const side = Object.fromEntries(CHEXPERT_LABELS.map((l) => [l, rng.uniform() < 0.5 ? 'right' : 'left'])) as Record<ChexpertLabel, Side>;
  const set = (l: ChexpertLabel, code: LabelCode) => { labels[labelIndex(l)] = code; };
  const normal = rng.uniform() < 0.3;
  if (normal) {
    set('No Finding', POSITIVE);
    for (const l of ['Pleural Effusion', 'Pneumothorax', 'Consolidation', 'Cardiomegaly', 'Edema'] as ChexpertLabel[]) {
      if (rng.uniform() < 0.45) set(l, NEGATIVE);
    }
  } else {
    let positives = 0;
    for (const [l, p] of Object.entries(PREVALENCE) as [ChexpertLabel, number][]) {
      const u = rng.uniform();
      if (u < p) { set(l, POSITIVE); positives++; }
      else if (u < p + 0.04 && l !== 'Support Devices') set(l, UNCERTAIN);
      else if (u < p + 0.35 && l !== 'Support Devices' && l !== 'Pleural Other') set(l, NEGATIVE);
    }
    if (positives === 0) {
      const pick = (['Pleural Effusion', 'Cardiomegaly', 'Atelectasis', 'Edema', 'Pneumothorax'] as ChexpertLabel[])[rng.int(0, 4)];
      set(pick, POSITIVE);
    }
    if (OPACITY_CAUSES.some((l) => labels[labelIndex(l)] === POSITIVE) && rng.uniform() < 0.7) set('Lung Opacity', POSITIVE);
    else if (rng.uniform() < 0.05) set('Lung Opacity', POSITIVE);
    if (labels[labelIndex('Pleural Effusion')] === POSITIVE && rng.uniform() < 0.3) side['Pleural Effusion'] = 'bilateral';
    if (labels[labelIndex('Edema')] === POSITIVE) side.Edema = 'bilateral';
    if (labels[labelIndex('Atelectasis')] === POSITIVE && rng.uniform() < 0.3) side.Atelectasis = 'bilateral';
  }
  for (const l of CHEXPERT_LABELS) {
    const code = labels[labelIndex(l)];
    if (code === POSITIVE) severity[l] = 0.6 + 0.4 * rng.uniform();
    else if (code === UNCERTAIN && rng.uniform() < 0.5) severity[l] = 0.2 + 0.2 * rng.uniform();
  }
  const devicesOn = severity['Support Devices'] > 0;
  const devices = { etTube: devicesOn && rng.uniform() < 0.5, centralLine: devicesOn && rng.uniform() < 0.6, pacemaker: devicesOn && rng.uniform() < 0.35 };
  if (devicesOn && !devices.etTube && !devices.centralLine && !devices.pacemaker) devices.centralLine = true;
  return {
    labels, severity, side, devices,
    fracturedRib: severity.Fracture > 0 ? rng.int(2, 7) : -1,
    noduleCm: 1 + Math.round(rng.uniform() * 20) / 10,
  };
}

export function labelCode(f: StudyFacts, l: ChexpertLabel): LabelCode {
  return f.labels[labelIndex(l)] as LabelCode;
}

export function isMentioned(f: StudyFacts, l: ChexpertLabel): boolean {
  return labelCode(f, l) !== NOT_MENTIONED;
}
