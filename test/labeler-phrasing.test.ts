/**
 * The rule-based labeler on report sentences in the phrasing radiologists use, written for this
 * test independently of the synthetic report writer's vocabulary (src/data/report-writer.ts), with
 * the labels the CheXpert conventions give them. Misses are printed; the floor is below the
 * measured agreement so that a regression shows, not a perfect score.
 */
import { CHEXPERT_LABELS, labelIndex, NEGATIVE, NOT_MENTIONED, POSITIVE, UNCERTAIN } from '../src/data/labels';
import { labelReport } from '../src/rewards/labeler';

type Label = (typeof CHEXPERT_LABELS)[number];
const P = POSITIVE,
  N = NEGATIVE,
  U = UNCERTAIN;

const CASES: [string, Partial<Record<Label, number>>][] = [
  [
    'The lungs are clear without focal consolidation, effusion, or pneumothorax.',
    { Consolidation: N, 'Pleural Effusion': N, Pneumothorax: N },
  ],
  ['Cardiomediastinal silhouette is within normal limits.', { 'Enlarged Cardiomediastinum': N }],
  ['The cardiac silhouette is mildly enlarged.', { Cardiomegaly: P }],
  ['Stable moderate cardiomegaly.', { Cardiomegaly: P }],
  ['Mild pulmonary vascular congestion without frank interstitial edema.', { Edema: P }],
  ['No evidence of pulmonary edema.', { Edema: N }],
  [
    'Patchy opacity at the left base could reflect atelectasis or pneumonia.',
    { Atelectasis: U, Pneumonia: U, 'Lung Opacity': P },
  ],
  ['Bibasilar atelectasis.', { Atelectasis: P }],
  ['Small bilateral pleural effusions.', { 'Pleural Effusion': P }],
  ['Blunting of the right costophrenic angle may represent a trace effusion.', { 'Pleural Effusion': U }],
  ['There is no pneumothorax.', { Pneumothorax: N }],
  ['Small apical right pneumothorax.', { Pneumothorax: P }],
  ['Endotracheal tube terminates 4 cm above the carina.', { 'Support Devices': P }],
  ['Right internal jugular central venous catheter tip in the mid SVC.', { 'Support Devices': P }],
  ['Left-sided pacemaker with leads in the right atrium and right ventricle.', { 'Support Devices': P }],
  ['An 8 mm nodule projects over the right upper lobe.', { 'Lung Lesion': P }],
  ['No suspicious pulmonary nodules.', { 'Lung Lesion': N }],
  ['Healing fracture of the left seventh rib.', { Fracture: P }],
  ['No displaced rib fractures are identified.', { Fracture: N }],
  ['Right lower lobe consolidation concerning for pneumonia.', { Consolidation: P, Pneumonia: U }],
  ['No acute cardiopulmonary process.', { 'No Finding': P }],
  ['Heart size is normal.', { Cardiomegaly: N }],
  ['Increased opacity in the right lower lobe.', { 'Lung Opacity': P }],
  ['The mediastinum is widened.', { 'Enlarged Cardiomediastinum': P }],
  ['Pleural thickening at the left apex.', { 'Pleural Other': P }],
  ['Possible early pneumonia in the lingula.', { Pneumonia: U }],
  ['Interval resolution of the previously seen left pleural effusion.', { 'Pleural Effusion': N }],
  ['No focal consolidation to suggest pneumonia.', { Consolidation: N, Pneumonia: N }],
];

test('labels of independently phrased report sentences', () => {
  let right = 0,
    total = 0;
  const misses: string[] = [];
  for (const [text, want] of CASES) {
    const got = labelReport(text);
    for (const [label, code] of Object.entries(want) as [Label, number][]) {
      total++;
      const g = got[labelIndex(label)];
      if (g === code) right++;
      else misses.push(`"${text}" ${label}: expected ${code}, got ${g === NOT_MENTIONED ? 'not mentioned' : g}`);
    }
  }
  console.log(
    `labeler on independent phrasing: ${right}/${total} (${((100 * right) / total).toFixed(0)}%)\n${misses.join('\n')}`,
  );
  expect(right / total).toBeGreaterThanOrEqual(0.85); // measured 32/34 (94%)
});
