/** From a study's facts and an image's view/pose to the engine's phantom renderer. */
import { loadAddon } from '../engine/native';
import type { PhantomParams, Pose } from './phantom-params';

export type { PhantomParams, Pose } from './phantom-params';
import type { Rng } from '../util/random';
import type { StudyFacts } from './study-facts';


export function samplePose(rng: Rng): Pose {
  const u = (lo: number, hi: number) => lo + (hi - lo) * rng.uniform();
  return { scaleX: u(0.9, 1.1), scaleY: u(0.9, 1.1), shiftX: u(-0.06, 0.06), shiftY: u(-0.06, 0.06), rotation: u(-0.08, 0.08) };
}

/** Right/left amounts for a finding drawn on one side or both. */
function sided(f: StudyFacts, label: keyof StudyFacts['severity'], scale: number): [number, number] {
  const s = f.severity[label] * scale;
  const side = f.side[label];
  return [side !== 'left' ? s : 0, side !== 'right' ? s : 0];
}

export function phantomParams(f: StudyFacts, view: string, width: number, height: number, pose: Pose, seed: number, rng: Rng): PhantomParams {
  const opacity = Math.max(f.severity.Consolidation, f.severity.Pneumonia, f.severity['Lung Opacity'] * 0.8);
  const opacitySide = f.side.Consolidation === 'left' ? 1 : f.side.Consolidation === 'bilateral' ? 2 : 0;
  const cardiomegaly = f.severity.Cardiomegaly;
  return {
    width, height, seed,
    view: view === 'LATERAL' || view === 'LL' || view === 'XTABLE LATERAL' ? 'LATERAL' : view === 'AP' || view.startsWith('AP') ? 'AP' : 'PA',
    pose,
    // PA-view CTR: normal 0.36-0.44; cardiomegaly 0.56-0.66; a mild uncertain one in between.
    // (AP views magnify the heart by 8%, as real portable films do.)
    heartRatio: cardiomegaly >= 0.6 ? 0.56 + 0.1 * (cardiomegaly - 0.6) / 0.4 : cardiomegaly > 0 ? 0.48 + 0.04 * rng.uniform() : 0.36 + 0.08 * rng.uniform(),
    mediastinumWidth: f.severity['Enlarged Cardiomediastinum'] > 0 ? 0.14 + 0.08 * f.severity['Enlarged Cardiomediastinum'] : 0.11 + 0.02 * rng.uniform(),
    effusion: sided(f, 'Pleural Effusion', 0.25),
    pneumothorax: sided(f, 'Pneumothorax', 0.2),
    atelectasis: sided(f, 'Atelectasis', 1),
    consolidation: opacity,
    consolidationSide: opacitySide,
    edema: f.severity.Edema,
    nodule: f.severity['Lung Lesion'] > 0 ? 0.03 + 0.015 * f.noduleCm : 0,
    pleuralThickening: f.severity['Pleural Other'],
    devices: (f.devices.etTube ? 1 : 0) | (f.devices.centralLine ? 2 : 0) | (f.devices.pacemaker ? 4 : 0),
    fracturedRib: f.fracturedRib,
    fracturedSide: f.side.Fracture === 'left' ? 1 : 0,
  };
}

export function renderPhantom(p: PhantomParams): Uint8Array {
  return loadAddon().renderPhantom(p);
}
