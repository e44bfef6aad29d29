/** The 14 CheXpert labels of MIMIC-CXR-JPG, in the CSV column order, and how values are coded. */
export const CHEXPERT_LABELS = [
  'Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema', 'Enlarged Cardiomediastinum', 'Fracture',
  'Lung Lesion', 'Lung Opacity', 'No Finding', 'Pleural Effusion', 'Pleural Other', 'Pneumonia',
  'Pneumothorax', 'Support Devices',
] as const;
export type ChexpertLabel = (typeof CHEXPERT_LABELS)[number];

/** Label codes kept distinct: 1.0 positive, 0.0 negative, -1.0 uncertain, empty = not mentioned. */
export const POSITIVE = 1;
export const NEGATIVE = 0;
export const UNCERTAIN = -1;
export const NOT_MENTIONED = -2;
export type LabelCode = typeof POSITIVE | typeof NEGATIVE | typeof UNCERTAIN | typeof NOT_MENTIONED;

/** Parses one CSV cell; returns null for a value that is none of the four. */
export function parseLabelCell(cell: string): LabelCode | null {
  switch (cell.trim()) {
    case '': return NOT_MENTIONED;
    case '1.0': case '1': return POSITIVE;
    case '0.0': case '0': return NEGATIVE;
    case '-1.0': case '-1': return UNCERTAIN;
    default: return null;
  }
}

export function formatLabelCell(code: LabelCode): string {
  return code === POSITIVE ? '1.0' : code === NEGATIVE ? '0.0' : code === UNCERTAIN ? '-1.0' : '';
}

/** A label vector with every label not mentioned. */
export function emptyLabels(): Int8Array {
  return new Int8Array(CHEXPERT_LABELS.length).fill(NOT_MENTIONED);
}

export function labelIndex(name: ChexpertLabel): number {
  return CHEXPERT_LABELS.indexOf(name);
}
