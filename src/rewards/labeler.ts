/**
 * A small rule-based report labeler for the 14 CheXpert labels, for scoring images against report
 * text that comes without label columns (generated images, free-text prompts). Per sentence: a
 * finding's mention is negative when a negation cue precedes it, uncertain when a hedge occurs in
 * the sentence, positive otherwise; across sentences positive > uncertain > negative. "No Finding"
 * is positive when no finding other than support devices is positive or uncertain and the text
 * says something normal. It is a keyword labeler in the spirit of the CheXpert/NegBio labelers,
 * not a replacement for them: when a dataset has label columns, those are used instead.
 */
import {
  CHEXPERT_LABELS,
  ChexpertLabel,
  emptyLabels,
  labelIndex,
  NEGATIVE,
  NOT_MENTIONED,
  POSITIVE,
  UNCERTAIN,
} from '../data/labels';

const MENTIONS: Partial<Record<ChexpertLabel, RegExp>> = {
  Atelectasis: /atelecta/,
  Cardiomegaly:
    /cardiomegaly|heart (size )?is (borderline |mildly |moderately |severely )?enlarged|enlarged heart|(cardiac|heart) silhouette is (borderline |mildly )?enlarged|heart size|cardiac silhouette/,
  Consolidation: /consolidat/,
  Edema: /edema|vascular congestion/,
  'Enlarged Cardiomediastinum':
    /mediastin(um|al) (is |are )?(\w+ )?(widen|enlarg)|widened mediastinum|mediastinal contours|cardiomediastinal silhouette/,
  Fracture: /fractur|osseous abnormalit/,
  'Lung Lesion': /nodul|\bmass\b|\blesion/,
  'Lung Opacity': /opacit|infiltrat|lungs are clear/,
  'Pleural Effusion': /effusion/,
  'Pleural Other': /pleural thickening|fibrothorax/,
  Pneumonia: /pneumonia/,
  Pneumothorax: /pneumothora/,
  'Support Devices': /\btube\b|\bline\b|catheter|pacemaker|\bpacer\b|\bleads?\b|\bstent\b|\bpicc\b/,
};

const NEGATION = /\b(no|without|negative for|free of|resolved|resolution of|not|clear of)\b/;
const HEDGE =
  /\b(may|might|possible|possibly|cannot be excluded|can ?not be excluded|could|suggest\w*|likely|questionable|borderline|uncertain|concern(ing)? for|versus|vs)\b/;
// Mentions that are statements of normality, whatever the cue words say.
const NORMAL: Partial<Record<ChexpertLabel, RegExp>> = {
  Cardiomegaly:
    /heart size is normal|normal heart size|(cardiac|heart) silhouette is (within normal limits|normal)|heart is normal in size/,
  'Enlarged Cardiomediastinum':
    /mediastinal contours are normal|cardiomediastinal silhouette is (unremarkable|normal|within normal limits)/,
  'Lung Opacity': /lungs are clear/,
};
const NORMAL_STUDY =
  /no acute (cardiopulmonary|intrathoracic)|normal chest|lungs are clear|no acute (process|abnormality)/;

function rank(code: number): number {
  return code === POSITIVE ? 3 : code === UNCERTAIN ? 2 : code === NEGATIVE ? 1 : 0;
}

export function labelReport(text: string): Int8Array {
  const labels = emptyLabels();
  const sentences = text
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .split(/(?<=[.;!?])\s+|\n/);
  for (const s of sentences) {
    for (const name of CHEXPERT_LABELS) {
      const re = MENTIONS[name];
      if (!re) continue;
      const m = re.exec(s);
      if (!m) continue;
      let code: number;
      if (NORMAL[name]?.test(s)) code = NEGATIVE;
      else if (NEGATION.test(s.slice(0, m.index))) code = NEGATIVE;
      else if (HEDGE.test(s)) code = UNCERTAIN;
      else if (
        (name === 'Cardiomegaly' && /^(heart size|cardiac silhouette)$/.test(m[0])) ||
        (name === 'Enlarged Cardiomediastinum' && /^(mediastinal contours|cardiomediastinal silhouette)$/.test(m[0]))
      )
        continue; // a neutral mention (the structure named, nothing said of it)
      else code = POSITIVE;
      const k = labelIndex(name);
      if (rank(code) > rank(labels[k])) labels[k] = code;
    }
  }
  const abnormal = CHEXPERT_LABELS.some(
    (l, k) => l !== 'No Finding' && l !== 'Support Devices' && (labels[k] === POSITIVE || labels[k] === UNCERTAIN),
  );
  const lower = text.toLowerCase();
  labels[labelIndex('No Finding')] = abnormal ? NOT_MENTIONED : NORMAL_STUDY.test(lower) ? POSITIVE : NOT_MENTIONED;
  return labels;
}
