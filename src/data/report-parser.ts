/**
 * Section parsing of MIMIC-CXR free-text reports, following the rules of the dataset's reference
 * parser: a header is a newline, one space, uppercase words (letters, spaces, parentheses, slash,
 * comma, dash) and a colon; text before the first header is the preamble; section names are
 * normalised (typos; "conclusion" and "findings and impression" count as impression); when neither
 * impression nor findings exists, the last paragraph stands in. Whitespace is collapsed.
 */
import { editDistance } from '../util/edit-distance';

export interface ParsedReport {
  preamble: string;
  /** Normalised section name -> collapsed text (a repeated section is joined). */
  sections: Record<string, string>;
  impression: string | null;
  findings: string | null;
  lastParagraph: string;
}

export type TextSource = 'impression' | 'findings' | 'last_paragraph';

const HEADER = /\n ([A-Z][A-Z ()/,-]*):/g;

export function collapseWhitespace(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** Lower-cases a header and maps typos and synonyms onto the canonical section names. */
export function normaliseSectionName(header: string): string {
  const h = collapseWhitespace(header.toLowerCase());
  if (['conclusion', 'conclusions', 'findings and impression', 'findings/impression', 'findings / impression', 'impression and findings', 'impressions', 'summary'].includes(h)) return 'impression';
  if (h === 'finding' || h === 'findings') return 'findings';
  if (h === 'wetread' || h === 'wet read') return 'wet read';
  if (h.length >= 7 && editDistance(h, 'impression') <= 2) return 'impression';
  if (h.length >= 6 && editDistance(h, 'findings') <= 2) return 'findings';
  if (h === 'comparisons' || h === 'comparison exam' || h === 'comparison film') return 'comparison';
  if (h === 'ndication' || h === 'clinical indication' || h === 'reason for exam' || h === 'reason for examination') return 'indication';
  return h;
}

export function parseReport(raw: string): ParsedReport {
  const text = '\n' + raw.replace(/\r\n?/g, '\n');
  const matches = [...text.matchAll(HEADER)];
  const sections: Record<string, string> = {};
  const preambleEnd = matches.length ? matches[0].index! : text.length;
  const preamble = collapseWhitespace(text.slice(0, preambleEnd));
  for (let k = 0; k < matches.length; k++) {
    const m = matches[k];
    const start = m.index! + m[0].length;
    const end = k + 1 < matches.length ? matches[k + 1].index! : text.length;
    const name = normaliseSectionName(m[1]);
    const body = collapseWhitespace(text.slice(start, end));
    sections[name] = sections[name] ? `${sections[name]} ${body}`.trim() : body;
  }
  const paragraphs = text.split(/\n[ \t]*\n/).map(collapseWhitespace).filter((p) => p.length > 0);
  const lastParagraph = paragraphs.length ? paragraphs[paragraphs.length - 1] : '';
  return {
    preamble, sections,
    impression: sections.impression || null,
    findings: sections.findings || null,
    lastParagraph,
  };
}

/** The text a model conditions on: impression, else findings, else the last paragraph (or findings first). */
export function conditioningText(r: ParsedReport, prefer: 'impression' | 'findings' = 'impression'): { text: string; source: TextSource } {
  const order: TextSource[] = prefer === 'impression' ? ['impression', 'findings'] : ['findings', 'impression'];
  for (const s of order) {
    const t = s === 'impression' ? r.impression : r.findings;
    if (t) return { text: t, source: s };
  }
  return { text: r.lastParagraph, source: 'last_paragraph' };
}
