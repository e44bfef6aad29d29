/**
 * Synthetic radiology reports in the MIMIC-CXR text format, consistent with a study's facts:
 * a centred FINAL REPORT line, uppercase section headers, one leading space on every line, blank
 * lines as a single space, two spaces between sentences, lines wrapped before 80 characters and
 * ___ for protected health information. Irregularities of the real corpus are reproduced on
 * purpose: reports without IMPRESSION, with neither section, with an addendum, with a header typo.
 */
import type { Rng } from '../util/random';
import type { ChexpertLabel } from './labels';
import { NEGATIVE, POSITIVE, UNCERTAIN } from './labels';
import { labelCode, StudyFacts } from './study-facts';

type Bank = { pos: string[]; neg: string[]; unc: string[] };

const BANK: Partial<Record<ChexpertLabel, Bank>> = {
  Atelectasis: {
    pos: ['Plate-like atelectasis at the {side} lung base.', 'Streaky {side} basilar opacity consistent with atelectasis.', '{Side} basilar atelectasis with mild volume loss.'],
    neg: ['No atelectasis.'],
    unc: ['Opacity at the {side} base may reflect atelectasis.', 'Possible minimal {side} basilar atelectasis.'],
  },
  Cardiomegaly: {
    pos: ['The heart is enlarged.', 'Moderate cardiomegaly.', 'The cardiac silhouette is enlarged.'],
    neg: ['Heart size is normal.', 'The cardiac silhouette is within normal limits.'],
    unc: ['Heart size is borderline enlarged.', 'Possible mild cardiomegaly.'],
  },
  Consolidation: {
    pos: ['Focal consolidation in the {side} lower lobe.', 'Airspace consolidation in the {side} lung.'],
    neg: ['No focal consolidation.', 'There is no focal consolidation.'],
    unc: ['Consolidation at the {side} base cannot be excluded.'],
  },
  Edema: {
    pos: ['Mild pulmonary edema.', 'Interstitial edema with perihilar haziness.', 'Moderate pulmonary vascular congestion and edema.'],
    neg: ['No pulmonary edema.', 'No evidence of pulmonary edema.'],
    unc: ['Possible mild interstitial edema.'],
  },
  'Enlarged Cardiomediastinum': {
    pos: ['The mediastinum is widened.'],
    neg: ['Mediastinal contours are normal.', 'Cardiomediastinal silhouette is unremarkable.'],
    unc: ['The mediastinum may be slightly widened.'],
  },
  Fracture: {
    pos: ['Acute fracture of the {side} {rib} rib.', 'Displaced fracture of the {side} {rib} posterior rib.'],
    neg: ['No displaced rib fracture is seen.', 'No acute osseous abnormality.'],
    unc: ['Possible nondisplaced fracture of the {side} {rib} rib.'],
  },
  'Lung Lesion': {
    pos: ['A {cm} cm nodule in the {side} mid lung.', 'Rounded {cm} cm mass in the {side} lung.'],
    neg: ['No suspicious pulmonary nodules.'],
    unc: ['Nodular opacity in the {side} mid lung; a nodule cannot be excluded.'],
  },
  'Lung Opacity': {
    pos: ['Patchy opacity in the {side} lower lung.', 'Increased opacity at the {side} base.'],
    neg: ['The lungs are clear.'],
    unc: ['Subtle opacity at the {side} base is of uncertain significance.'],
  },
  'Pleural Effusion': {
    pos: ['Small {side} pleural effusion.', 'Moderate {side} pleural effusion with blunting of the costophrenic angle.', '{Side} pleural effusion.'],
    neg: ['No pleural effusion.', 'There is no pleural effusion.'],
    unc: ['Blunting of the {side} costophrenic angle may reflect a small effusion.'],
  },
  'Pleural Other': {
    pos: ['{Side} pleural thickening.', 'Mild {side} pleural thickening.'],
    neg: ['No pleural thickening.'],
    unc: ['Possible {side} pleural thickening.'],
  },
  Pneumonia: {
    pos: ['Findings consistent with pneumonia in the {side} lower lobe.', 'Opacity concerning for pneumonia at the {side} base.'],
    neg: ['No evidence of pneumonia.'],
    unc: ['Pneumonia cannot be excluded.', 'Possible early {side} basilar pneumonia.'],
  },
  Pneumothorax: {
    pos: ['Small {side} apical pneumothorax.', 'There is a {side} pneumothorax.'],
    neg: ['No pneumothorax.', 'There is no pneumothorax.'],
    unc: ['Possible tiny {side} apical pneumothorax.'],
  },
};

const RIBS = ['third', 'fourth', 'fifth', 'sixth', 'seventh', 'eighth', 'ninth', 'tenth'];

function fill(t: string, facts: StudyFacts, label: ChexpertLabel): string {
  const side = facts.side[label];
  const sideWord = side === 'bilateral' ? 'bilateral' : side;
  return t
    .replace('{side}', sideWord)
    .replace('{Side}', sideWord[0].toUpperCase() + sideWord.slice(1))
    .replace('{rib}', RIBS[Math.max(0, facts.fracturedRib) % RIBS.length])
    .replace('{cm}', facts.noduleCm.toFixed(1));
}

function deviceSentences(f: StudyFacts, rng: Rng): string[] {
  const out: string[] = [];
  if (f.devices.etTube) out.push(`Endotracheal tube terminates ${rng.int(3, 6)} cm above the carina.`);
  if (f.devices.centralLine) out.push(rng.uniform() < 0.5 ? 'Right internal jugular central venous catheter tip in the SVC.' : 'Right-sided PICC line terminates in the lower SVC.');
  if (f.devices.pacemaker) out.push('Left chest wall pacemaker with leads in the right atrium and right ventricle.');
  return out;
}

/** Findings and impression sentences for the study's labels. */
export function reportSentences(f: StudyFacts, rng: Rng): { findings: string[]; impression: string[] } {
  const findings: string[] = [];
  const impression: string[] = [];
  const pick = (arr: string[]) => arr[rng.int(0, arr.length - 1)];
  if (labelCode(f, 'No Finding') === POSITIVE) {
    findings.push('The lungs are clear.', 'The cardiomediastinal silhouette is within normal limits.');
    for (const [l, bank] of Object.entries(BANK) as [ChexpertLabel, Bank][]) if (labelCode(f, l) === NEGATIVE && l !== 'Lung Opacity') findings.push(pick(bank.neg));
    impression.push(pick(['No acute cardiopulmonary process.', 'No acute intrathoracic abnormality.', 'Normal chest radiograph.']));
    return { findings: rng.shuffle(findings), impression };
  }
  for (const [l, bank] of Object.entries(BANK) as [ChexpertLabel, Bank][]) {
    const code = labelCode(f, l);
    if (code === POSITIVE) {
      const s = fill(pick(bank.pos), f, l);
      findings.push(s);
      if (rng.uniform() < 0.8) impression.push(s);
    } else if (code === UNCERTAIN) {
      const s = fill(pick(bank.unc), f, l);
      findings.push(s);
      if (rng.uniform() < 0.6) impression.push(s);
    } else if (code === NEGATIVE) {
      findings.push(fill(pick(bank.neg), f, l));
    }
  }
  const devices = deviceSentences(f, rng);
  findings.push(...devices);
  if (devices.length && rng.uniform() < 0.6) impression.push(devices[0]);
  if (impression.length === 0) impression.push(findings.find((s) => !/^No |^There is no /.test(s)) ?? findings[0]);
  return { findings: rng.shuffle(findings), impression };
}

/** Wraps sentences (joined by two spaces) into lines shorter than 80 characters, each with a leading space. */
export function wrapParagraph(sentences: string[], width = 78): string[] {
  const text = sentences.join('  ');
  const lines: string[] = [];
  let cur = '';
  for (const token of text.split(/(\s+)/)) {
    if (token === '') continue;
    if ((cur + token).length > width && cur.trim().length) {
      lines.push(' ' + cur.trimEnd());
      cur = token.trimStart();
    } else {
      cur += token;
    }
  }
  if (cur.trim().length) lines.push(' ' + cur.trimEnd());
  return lines;
}

export interface ReportLayout {
  hasImpression: boolean;
  hasFindings: boolean;
  addendum: boolean;
  headerTypo: 'none' | 'impresson' | 'findngs' | 'conclusion';
}

/** How this report departs from the usual shape (frequencies of the real corpus, roughly). */
export function sampleLayout(rng: Rng): ReportLayout {
  const u = rng.uniform();
  const hasImpression = u < 0.82;
  const hasFindings = hasImpression ? rng.uniform() < 0.85 : u < 0.945;
  const t = rng.uniform();
  return {
    hasImpression, hasFindings, addendum: rng.uniform() < 0.03,
    headerTypo: t < 0.02 ? 'impresson' : t < 0.04 ? 'findngs' : t < 0.06 ? 'conclusion' : 'none',
  };
}

export function writeReport(f: StudyFacts, views: string[], rng: Rng, layout: ReportLayout = sampleLayout(rng)): string {
  const { findings, impression } = reportSentences(f, rng);
  const lines: string[] = [];
  const blank = () => lines.push(' ');
  const section = (header: string, body: string[]) => {
    lines.push(` ${header}: `);
    blank();
    lines.push(...wrapParagraph(body));
    blank();
  };
  if (layout.addendum) {
    lines.push(' ADDENDUM:  The findings were discussed with Dr. ___ by Dr. ___ at ___', ' on ___.');
    blank();
    lines.push(' ______________________________________________________________________________');
  }
  lines.push('                                 FINAL REPORT');
  const frontal = views.filter((v) => v === 'PA' || v === 'AP');
  const exam = views.includes('LATERAL') ? 'CHEST (PA AND LAT)' : frontal.includes('AP') ? 'CHEST (PORTABLE AP)' : 'CHEST (PA ONLY)';
  lines.push(` EXAMINATION:  ${exam}`);
  blank();
  const indications = ['___M with shortness of breath.', '___F with cough and fever, evaluate for pneumonia.', 'History: ___M with chest pain.', '___-year-old woman with hypoxia.', '___M, evaluate line placement.'];
  lines.push(` INDICATION:  ${indications[rng.int(0, indications.length - 1)]}`);
  blank();
  lines.push(` TECHNIQUE:  ${exam === 'CHEST (PORTABLE AP)' ? 'Portable AP chest radiograph.' : 'Chest PA and lateral.'}`);
  blank();
  lines.push(` COMPARISON:  ${rng.uniform() < 0.5 ? 'None.' : 'Chest radiograph from ___.'}`);
  blank();
  const findingsHeader = layout.headerTypo === 'findngs' ? 'FINDNGS' : 'FINDINGS';
  const impressionHeader = layout.headerTypo === 'impresson' ? 'IMPRESSON' : layout.headerTypo === 'conclusion' ? 'CONCLUSION' : 'IMPRESSION';
  if (layout.hasFindings) section(findingsHeader, findings);
  if (layout.hasImpression) section(impressionHeader, impression);
  if (!layout.hasFindings && !layout.hasImpression) {
    // Neither section: the text stands in unlabelled paragraphs; the last one carries the conclusion.
    lines.push(...wrapParagraph(findings.slice(0, Math.max(1, findings.length - 1))));
    blank();
    lines.push(...wrapParagraph(impression));
    blank();
  }
  return lines.join('\n') + '\n';
}
