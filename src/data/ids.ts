/** MIMIC-CXR identifiers and paths. */
import type { Rng } from '../util/random';
import * as path from 'path';

/** subject_id: 8 digits starting with 1. */
export function isSubjectId(s: string): boolean {
  return /^1\d{7}$/.test(s);
}

/** study_id: 8 digits starting with 5. */
export function isStudyId(s: string): boolean {
  return /^5\d{7}$/.test(s);
}

/** dicom_id: five dash-joined groups of 8 lowercase hex digits. */
export function isDicomId(s: string): boolean {
  return /^[0-9a-f]{8}(-[0-9a-f]{8}){4}$/.test(s);
}

export function randomDicomId(rng: Rng): string {
  const parts: string[] = [];
  for (let i = 0; i < 5; i++) parts.push(rng.nextUint32().toString(16).padStart(8, '0'));
  return parts.join('-');
}

/** files/p1X/p<subject>/s<study>/<dicom>.jpg (relative to the dataset root). */
export function imagePath(subject: string, study: string, dicom: string): string {
  return path.posix.join('files', `p${subject.slice(0, 2)}`, `p${subject}`, `s${study}`, `${dicom}.jpg`);
}

/** files/p1X/p<subject>/s<study>.txt (the report, beside the study folder). */
export function reportPath(subject: string, study: string): string {
  return path.posix.join('files', `p${subject.slice(0, 2)}`, `p${subject}`, `s${study}.txt`);
}
