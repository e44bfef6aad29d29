/**
 * The synthetic MIMIC-layout dataset read back through the real loader: layout, identifiers,
 * image sizes, joins, labels, report sections, splits and determinism; the loader and report
 * parser on hand-written edge cases; the image pipeline and its cache; and phantom content that
 * follows the labels (cardiothoracic ratio, lower-zone density) measured on the images.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import sharp from 'sharp';
import { readCsv, writeCsv } from '../src/data/csv';
import { isDicomId, isStudyId, isSubjectId } from '../src/data/ids';
import { batches, cacheKey, ImageLoader } from '../src/data/images';
import { inspectDataset } from '../src/data/inspect';
import {
  CHEXPERT_LABELS,
  labelIndex,
  NEGATIVE,
  NOT_MENTIONED,
  POSITIVE,
  UNCERTAIN,
  parseLabelCell,
} from '../src/data/labels';
import { cardiothoracicRatio, lowerZoneBrightness } from '../src/data/measure';
import { loadMimic } from '../src/data/mimic';
import { conditioningText, parseReport } from '../src/data/report-parser';
import { LABEL_HEADER, METADATA_HEADER, SPLIT_HEADER, synthesizeDataset, TRUTH_FILE } from '../src/data/synth';
import { runCli, tmpDir } from './helpers';

jest.setTimeout(600000);

let root: string;
beforeAll(async () => {
  root = path.join(tmpDir('synth'), 'mimic');
  const s = await synthesizeDataset({ out: root, studies: 160, seed: 42, size: 128 });
  console.log(`synthetic dataset: ${s.studies} studies, ${s.images} images in ${s.seconds.toFixed(1)} s`);
});

describe('synthetic dataset layout', () => {
  test('files, identifiers, headers and image sizes are those of MIMIC-CXR-JPG', async () => {
    for (const f of [
      'mimic-cxr-2.0.0-metadata.csv.gz',
      'mimic-cxr-2.0.0-split.csv.gz',
      'mimic-cxr-2.0.0-chexpert.csv.gz',
      'mimic-cxr-2.0.0-negbio.csv.gz',
      'IMAGE_FILENAMES',
      TRUTH_FILE,
    ]) {
      expect(fs.existsSync(path.join(root, f))).toBe(true);
    }
    const meta = readCsv(path.join(root, 'mimic-cxr-2.0.0-metadata.csv.gz'));
    expect(meta.header).toEqual(METADATA_HEADER);
    expect(readCsv(path.join(root, 'mimic-cxr-2.0.0-split.csv.gz')).header).toEqual(SPLIT_HEADER);
    expect(readCsv(path.join(root, 'mimic-cxr-2.0.0-chexpert.csv.gz')).header).toEqual(LABEL_HEADER);
    const names = fs.readFileSync(path.join(root, 'IMAGE_FILENAMES'), 'utf8').trim().split('\n');
    expect(names.length).toBe(meta.rows.length);
    const views = new Set<string>();
    for (const [k, row] of meta.rows.entries()) {
      const [dicom, subject, study] = row;
      expect(isDicomId(dicom) && isSubjectId(subject) && isStudyId(study)).toBe(true);
      expect(names[k]).toBe(`files/p${subject.slice(0, 2)}/p${subject}/s${study}/${dicom}.jpg`);
      expect(row[7]).toMatch(/^2\d{7}$/); // StudyDate
      expect(row[8]).toMatch(/^[1-9]?\d{1,5}\.\d{3}$|^0\.\d{3}$/); // StudyTime without leading zeros
      views.add(row[4]);
      if (k < 12) {
        const m = await sharp(path.join(root, names[k])).metadata();
        expect([m.format, m.channels, m.height, m.width]).toEqual(['jpeg', 1, Number(row[5]), Number(row[6])]);
      }
      expect(fs.existsSync(path.join(root, `files/p${subject.slice(0, 2)}/p${subject}/s${study}.txt`))).toBe(true);
    }
    for (const v of ['PA', 'AP', 'LATERAL', '']) expect(views.has(v)).toBe(true);
    expect([...views].some((v) => !['PA', 'AP', 'LATERAL', 'LL', ''].includes(v))).toBe(true); // a rare view
    const widths = new Set(meta.rows.map((r) => r[6]));
    expect(widths.size).toBeGreaterThan(5); // non-square, varying
  });

  test('labels use 1.0 / 0.0 / -1.0 / empty; some studies lack a row; reports follow the MIMIC text format', () => {
    const text = zlib.gunzipSync(fs.readFileSync(path.join(root, 'mimic-cxr-2.0.0-chexpert.csv.gz'))).toString();
    const cells = new Set(
      text
        .trim()
        .split('\n')
        .slice(1)
        .flatMap((l) => l.split(',').slice(2)),
    );
    expect([...cells].sort()).toEqual(['', '-1.0', '0.0', '1.0']);
    const meta = readCsv(path.join(root, 'mimic-cxr-2.0.0-metadata.csv.gz'));
    const labelled = new Set(readCsv(path.join(root, 'mimic-cxr-2.0.0-chexpert.csv.gz')).rows.map((r) => r[1]));
    expect(new Set(meta.rows.map((r) => r[2])).size).toBeGreaterThan(labelled.size);
    const reports = meta.rows
      .slice(0, 40)
      .map((r) => fs.readFileSync(path.join(root, `files/p${r[1].slice(0, 2)}/p${r[1]}/s${r[2]}.txt`), 'utf8'));
    for (const rep of reports) {
      const lines = rep.replace(/\n$/, '').split('\n');
      expect(lines.every((l) => l.startsWith(' '))).toBe(true);
      expect(lines.every((l) => l.length < 80)).toBe(true);
      expect(rep).toMatch(/^ +FINAL REPORT$/m);
      expect(rep).toContain('___');
    }
  });

  test('the same seed writes the same dataset, byte for byte', async () => {
    const a = path.join(tmpDir('det'), 'a'),
      b = path.join(tmpDir('det'), 'b');
    await synthesizeDataset({ out: a, studies: 12, seed: 7, size: 64 });
    await synthesizeDataset({ out: b, studies: 12, seed: 7, size: 64 });
    const files = fs.readFileSync(path.join(a, 'IMAGE_FILENAMES'), 'utf8').trim().split('\n');
    for (const f of [...files, 'mimic-cxr-2.0.0-metadata.csv.gz', 'mimic-cxr-2.0.0-chexpert.csv.gz', TRUTH_FILE]) {
      expect(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f)))).toBe(true);
    }
    await expect(synthesizeDataset({ out: a, studies: 3, seed: 1, size: 64 })).rejects.toThrow(
      /already holds a files\/ tree/,
    );
  });
});

describe('synthetic splits', () => {
  /** patient -> split, from the split table (read here, not through the loader). */
  const splitsOf = (root: string) => {
    const t = readCsv(path.join(root, 'mimic-cxr-2.0.0-split.csv.gz'));
    const bySubject = new Map<string, Set<string>>();
    for (const row of t.rows) {
      const set = bySubject.get(row[2]) ?? new Set<string>();
      set.add(row[3]);
      bySubject.set(row[2], set);
    }
    return bySubject;
  };

  test('patient-disjoint, with the requested fractions; a zero fraction gives an empty split', async () => {
    const big = path.join(tmpDir('splits'), 'big');
    await synthesizeDataset({ out: big, studies: 1500, seed: 11, size: 32, validateFraction: 0.2, testFraction: 0.3 });
    const bySubject = splitsOf(big);
    expect([...bySubject.values()].every((s) => s.size === 1)).toBe(true);
    const count = (name: string) => [...bySubject.values()].filter((s) => s.has(name)).length;
    const n = bySubject.size;
    console.log(
      `splits over ${n} patients: validate ${count('validate')}, test ${count('test')}, train ${count('train')}`,
    );
    // Binomial standard deviations are about 0.015 at these sizes; 4 of them as the tolerance.
    expect(Math.abs(count('validate') / n - 0.2)).toBeLessThan(0.06);
    expect(Math.abs(count('test') / n - 0.3)).toBeLessThan(0.06);
    const none = path.join(tmpDir('splits'), 'none');
    await synthesizeDataset({ out: none, studies: 40, seed: 3, size: 32, validateFraction: 0, testFraction: 0 });
    expect(new Set([...splitsOf(none).values()].flatMap((s) => [...s]))).toEqual(new Set(['train']));
  });

  test('a tiny dataset still has every split with a non-zero fraction (the documented 2nd/3rd-patient rule)', async () => {
    const tiny = path.join(tmpDir('splits'), 'tiny');
    await synthesizeDataset({ out: tiny, studies: 9, seed: 5, size: 32 }); // at least 3 patients
    const used = new Set([...splitsOf(tiny).values()].flatMap((x) => [...x]));
    expect(used.has('validate') && used.has('test')).toBe(true);
  });
});

describe('loader on the synthetic dataset', () => {
  test('joins images, labels, splits and report text; frontal views by default', () => {
    const r = loadMimic({ root, checkImages: true });
    expect(r.problems).toEqual([]);
    expect(r.records.length).toBeGreaterThan(50);
    expect(r.records.every((x) => x.view === 'PA' || x.view === 'AP')).toBe(true);
    const all = loadMimic({ root, views: [] });
    expect(all.records.length).toBe(r.metadataRows);
    // Labels: each record's vector equals its study's row, read independently here.
    const table = readCsv(path.join(root, 'mimic-cxr-2.0.0-chexpert.csv.gz'));
    const byStudy = new Map(table.rows.map((row) => [row[1], row.slice(2)]));
    let withoutRow = 0;
    for (const rec of all.records) {
      const row = byStudy.get(rec.studyId);
      if (!row) {
        withoutRow++;
        expect(rec.hasLabelRow).toBe(false);
        expect(Array.from(rec.labels).every((v) => v === NOT_MENTIONED)).toBe(true);
      } else {
        expect(Array.from(rec.labels)).toEqual(row.map((c) => parseLabelCell(c)));
      }
      const report = fs.readFileSync(
        path.join(root, `files/p${rec.subjectId.slice(0, 2)}/p${rec.subjectId}/s${rec.studyId}.txt`),
        'utf8',
      );
      expect(rec.text).toBe(conditioningText(parseReport(report)).text);
    }
    expect(withoutRow).toBeGreaterThan(0);
    const codes = new Set(all.records.flatMap((x) => Array.from(x.labels)));
    expect([...codes].sort()).toEqual([NOT_MENTIONED, UNCERTAIN, NEGATIVE, POSITIVE].sort());
    // Splits are patient-disjoint and filterable.
    const splitOf = new Map<string, string>();
    for (const rec of all.records) {
      expect(splitOf.get(rec.subjectId) ?? rec.split).toBe(rec.split);
      splitOf.set(rec.subjectId, rec.split);
    }
    expect(loadMimic({ root, splits: ['test'] }).records.every((x) => x.split === 'test')).toBe(true);
    // Report sections: impression, findings and last-paragraph fallbacks all occur.
    expect(all.sectionCoverage.impression).toBeGreaterThan(0);
    expect(all.sectionCoverage.findings + all.sectionCoverage.last_paragraph).toBeGreaterThan(0);
    const negbio = loadMimic({ root, labelSource: 'negbio', views: [] });
    expect(negbio.records.length).toBe(all.records.length);
  });

  test('data inspect reports counts, prevalence, sections and problems', () => {
    const r = runCli(['data', 'inspect', '--root', root, '--json']);
    expect(r.status).toBe(0);
    const x = JSON.parse(r.stdout);
    expect(x.problems.total).toBe(0);
    expect(Object.keys(x.labels)).toEqual([...CHEXPERT_LABELS]);
    const c = x.labels.Cardiomegaly;
    expect(c.positive + c.negative + c.uncertain + c.notMentioned).toBe(x.studies);
    expect(x.byView.PA + x.byView.AP).toBeGreaterThan(0);
  });
});

describe('report section parser', () => {
  const wrap = (body: string) => ' ' + body.split('\n').join('\n ') + '\n';
  test('impression first, findings next, last paragraph otherwise; whitespace collapsed', () => {
    const full = wrap(
      '                                 FINAL REPORT\nEXAMINATION:  CHEST (PA AND LAT)\n\nINDICATION:  ___M with cough.\n\nFINDINGS: \n\nSmall left pleural\neffusion.  No pneumothorax.\n\nIMPRESSION: \n\nSmall left   effusion.\n',
    );
    const p = parseReport(full);
    expect(p.preamble).toBe('FINAL REPORT');
    expect(p.sections.examination).toBe('CHEST (PA AND LAT)');
    expect(p.findings).toBe('Small left pleural effusion. No pneumothorax.');
    expect(conditioningText(p)).toEqual({ text: 'Small left effusion.', source: 'impression' });
    expect(conditioningText(p, 'findings').source).toBe('findings');
    const onlyFindings = parseReport(wrap('FINAL REPORT\nFINDINGS:  Heart size is normal.\n'));
    expect(conditioningText(onlyFindings)).toEqual({ text: 'Heart size is normal.', source: 'findings' });
    const neither = parseReport(
      wrap('FINAL REPORT\nEXAMINATION:  CHEST\n\nThe heart is enlarged.\n\nModerate cardiomegaly, unchanged.\n'),
    );
    expect(conditioningText(neither)).toEqual({ text: 'Moderate cardiomegaly, unchanged.', source: 'last_paragraph' });
  });

  test('header typos and synonyms are normalised; an addendum stays in the preamble', () => {
    for (const [header, expected] of [
      ['IMPRESSON', 'impression'],
      ['IMPRESSOIN', 'impression'],
      ['CONCLUSION', 'impression'],
      ['FINDINGS AND IMPRESSION', 'impression'],
      ['FINDNGS', 'findings'],
      ['FINDING', 'findings'],
    ]) {
      const p = parseReport(wrap(`FINAL REPORT\n${header}:  Text here.\n`));
      expect(p.sections[expected]).toBe('Text here.');
    }
    const addendum = parseReport(
      wrap(
        'ADDENDUM  Discussed with Dr. ___.\n______________________________\n               FINAL REPORT\nIMPRESSION:  No acute process.\n',
      ),
    );
    expect(addendum.preamble).toContain('Discussed with Dr. ___.');
    expect(addendum.impression).toBe('No acute process.');
  });
});

describe('loader on hand-written edge cases', () => {
  const subject = '10000032',
    study = '50414267',
    dicom = '02aa804e-bde0afdd-112c0b34-7bc16630-4e384014';
  const dicom2 = 'aaaaaaaa-bbbbbbbb-cccccccc-dddddddd-eeeeeeee';
  const labels = CHEXPERT_LABELS.map((_, k) => (k === 1 ? '1.0' : k === 9 ? '-1.0' : k === 12 ? '0.0' : ''));

  function makeRoot(
    opts: {
      gz?: boolean;
      extraColumns?: boolean;
      truncateGzip?: boolean;
      malformed?: boolean;
      dropReport?: boolean;
      corruptJpeg?: boolean;
      badLabel?: boolean;
    } = {},
  ) {
    const dir = path.join(tmpDir('edge'), 'root');
    const ext = opts.gz === false ? '.csv' : '.csv.gz';
    fs.mkdirSync(path.join(dir, `files/p10/p${subject}/s${study}`), { recursive: true });
    const metaHeader = opts.extraColumns ? ['Extra', ...[...METADATA_HEADER].reverse()] : METADATA_HEADER;
    const metaRow = (d: string) => {
      const row: Record<string, string> = {
        dicom_id: d,
        subject_id: subject,
        study_id: study,
        PerformedProcedureStepDescription: 'CHEST (PA AND LAT)',
        ViewPosition: 'PA',
        Rows: '40',
        Columns: '32',
        StudyDate: '21800506',
        StudyTime: '213014.531',
        ProcedureCodeSequence_CodeMeaning: 'CHEST (PA AND LAT)',
        ViewCodeSequence_CodeMeaning: 'postero-anterior',
        PatientOrientationCodeSequence_CodeMeaning: 'Erect',
        Extra: 'x',
      };
      return metaHeader.map((h) => row[h]);
    };
    const metaRows = [metaRow(dicom), metaRow(dicom2)];
    if (opts.malformed) metaRows.push(['only', 'three', 'fields']);
    writeCsv(path.join(dir, 'mimic-cxr-2.0.0-metadata' + ext), metaHeader, metaRows);
    writeCsv(
      path.join(dir, 'mimic-cxr-2.0.0-split' + ext),
      opts.extraColumns ? ['split', 'subject_id', 'dicom_id', 'study_id'] : SPLIT_HEADER,
      [dicom, dicom2].map((d) => (opts.extraColumns ? ['train', subject, d, study] : [d, study, subject, 'train'])),
    );
    const labelRow = [subject, study, ...labels];
    if (opts.badLabel) labelRow[3] = 'maybe';
    writeCsv(path.join(dir, 'mimic-cxr-2.0.0-chexpert' + ext), LABEL_HEADER, [labelRow]);
    writeCsv(path.join(dir, 'mimic-cxr-2.0.0-negbio' + ext), LABEL_HEADER, [labelRow]);
    if (opts.truncateGzip) {
      const f = path.join(dir, 'mimic-cxr-2.0.0-metadata.csv.gz');
      const b = fs.readFileSync(f);
      fs.writeFileSync(f, b.subarray(0, Math.floor(b.length / 2)));
    }
    if (!opts.dropReport)
      fs.writeFileSync(
        path.join(dir, `files/p10/p${subject}/s${study}.txt`),
        ' FINAL REPORT\n IMPRESSION:  Cardiomegaly.\n',
      );
    return dir;
  }

  async function writeJpeg(dir: string, d: string, corrupt = false) {
    const f = path.join(dir, `files/p10/p${subject}/s${study}/${d}.jpg`);
    const jpg = await sharp(Buffer.alloc(32 * 40, 128), { raw: { width: 32, height: 40, channels: 1 } })
      .jpeg({ quality: 95 })
      .toBuffer();
    fs.writeFileSync(f, corrupt ? jpg.subarray(0, jpg.length >> 1) : jpg);
    return f;
  }

  test('plain CSVs, extra and reordered columns are read by name', () => {
    const r = loadMimic({ root: makeRoot({ gz: false, extraColumns: true }) });
    expect(r.problems).toEqual([]);
    expect(r.records.map((x) => x.dicomId).sort()).toEqual([dicom, dicom2].sort());
    const rec = r.records[0];
    expect(rec.labels[labelIndex('Cardiomegaly')]).toBe(POSITIVE);
    expect(rec.labels[labelIndex('Pleural Effusion')]).toBe(UNCERTAIN);
    expect(rec.labels[labelIndex('Pneumothorax')]).toBe(NEGATIVE);
    expect(rec.labels[labelIndex('Edema')]).toBe(NOT_MENTIONED);
    expect([rec.rows, rec.columns, rec.text]).toEqual([40, 32, 'Cardiomegaly.']);
  });

  test('missing top-level file, truncated gzip and a missing column are clear errors naming the file', () => {
    const dir = makeRoot();
    fs.unlinkSync(path.join(dir, 'mimic-cxr-2.0.0-split.csv.gz'));
    expect(() => loadMimic({ root: dir })).toThrow(
      /missing mimic-cxr-2\.0\.0-split\.csv\.gz \(or mimic-cxr-2\.0\.0-split\.csv\)/,
    );
    expect(() => loadMimic({ root: makeRoot({ truncateGzip: true }) })).toThrow(
      /metadata\.csv\.gz: truncated or corrupt gzip/,
    );
    const d2 = makeRoot();
    writeCsv(path.join(d2, 'mimic-cxr-2.0.0-split.csv.gz'), ['dicom_id', 'study_id'], [[dicom, study]]);
    expect(() => loadMimic({ root: d2 })).toThrow(/split\.csv\.gz: missing column "split"/);
  });

  test('malformed rows, bad label values and missing reports are counted, or fatal with strict', () => {
    const dir = makeRoot({ malformed: true, badLabel: true });
    const r = loadMimic({ root: dir });
    expect(r.problems.map((p) => p.message).join('\n')).toMatch(/malformed row: 3 fields, header has 12/);
    expect(r.problems.map((p) => p.message).join('\n')).toMatch(/bad value "maybe" for "Cardiomegaly"/);
    expect(r.problems.find((p) => /malformed/.test(p.message))!.line).toBe(4);
    expect(() => loadMimic({ root: dir, strict: true })).toThrow(/chexpert\.csv\.gz: line 2: bad value "maybe"/);
    expect(() => loadMimic({ root: makeRoot({ malformed: true }), strict: true })).toThrow(
      /metadata\.csv\.gz: line 4: malformed row/,
    );
    const noReport = loadMimic({ root: makeRoot({ dropReport: true }) });
    expect(noReport.records).toEqual([]);
    expect(noReport.problems[0]).toMatchObject({ message: 'missing report' });
    expect(noReport.problems[0].file).toMatch(/s50414267\.txt$/);
  });

  test('a pre-sectioned report CSV can stand in for the .txt files', () => {
    const dir = makeRoot({ dropReport: true });
    const csv = path.join(dir, 'mimic_cxr_sectioned.csv');
    writeCsv(
      csv,
      ['study', 'impression', 'findings', 'last_paragraph', 'comparison'],
      [[`s${study}`, '', 'Large heart,\n  unchanged.', 'x', 'None']],
    );
    const r = loadMimic({ root: dir, sectionedCsv: csv });
    expect(r.problems).toEqual([]);
    expect(r.records[0]).toMatchObject({ text: 'Large heart, unchanged.', textSource: 'findings' });
  });

  test('missing and corrupt JPEGs are skipped and counted by the image pipeline, named', async () => {
    const dir = makeRoot();
    await writeJpeg(dir, dicom);
    await writeJpeg(dir, dicom2, true);
    const r = loadMimic({ root: dir });
    const loader = new ImageLoader({ size: 16 }, null);
    const got = [];
    for await (const b of batches(r.records, loader, { batchSize: 2, seed: 0, epoch: 0 })) got.push(b);
    expect(got.length).toBe(1);
    expect(got[0].records.map((x) => x.dicomId)).toEqual([dicom]);
    expect(loader.problems).toHaveLength(1);
    expect(loader.problems[0].file).toContain(dicom2);
    expect(loader.problems[0].message).toMatch(/corrupt image/);
    fs.unlinkSync(path.join(dir, `files/p10/p${subject}/s${study}/${dicom}.jpg`));
    expect(await new ImageLoader({ size: 16 }, null).load(r.records.find((x) => x.dicomId === dicom)!)).toBeNull();
    await expect(
      new ImageLoader({ size: 16 }, null, true).load(r.records.find((x) => x.dicomId === dicom)!),
    ).rejects.toThrow(/missing image/);
    const ins = inspectDataset({ root: dir });
    expect(ins.problems.byKind['missing image']).toBe(1);
  });
});

describe('image pipeline', () => {
  test('shorter side resized, centre-cropped, [-1, 1], cached under a settings key, seeded order', async () => {
    const r = loadMimic({ root });
    const cache = tmpDir('cache');
    const loader = new ImageLoader({ size: 64 }, cache);
    const first: string[] = [];
    let seen = 0;
    for await (const b of batches(r.records, loader, { batchSize: 16, seed: 3, epoch: 0 })) {
      expect(b.images.length).toBe(b.records.length * 64 * 64);
      let lo = Infinity,
        hi = -Infinity;
      for (const v of b.images) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      expect(lo).toBeGreaterThanOrEqual(-1);
      expect(hi).toBeLessThanOrEqual(1);
      first.push(...b.records.map((x) => x.dicomId));
      seen += b.records.length;
    }
    expect(seen).toBe(r.records.length);
    expect(loader.decoded).toBe(r.records.length);
    // Second epoch: no decoding, a different order; the same epoch again: the same order.
    const again = new ImageLoader({ size: 64 }, cache);
    const second: string[] = [],
      repeat: string[] = [];
    for await (const b of batches(r.records, again, { batchSize: 16, seed: 3, epoch: 1 }))
      second.push(...b.records.map((x) => x.dicomId));
    for await (const b of batches(r.records, again, { batchSize: 16, seed: 3, epoch: 0 }))
      repeat.push(...b.records.map((x) => x.dicomId));
    expect(again.decoded).toBe(0);
    expect(second).not.toEqual(first);
    expect(repeat).toEqual(first);
    expect(cacheKey({ size: 64 })).not.toBe(cacheKey({ size: 65 }));
    // The cached pixels equal a fresh decode.
    const fresh = await new ImageLoader({ size: 64 }, null).load(r.records[0]);
    expect(Buffer.from((await again.load(r.records[0]))!).equals(Buffer.from(fresh!))).toBe(true);
    // A centre crop: a wide image keeps its middle columns.
    const wide = path.join(tmpDir('crop'), 'w.jpg');
    const px = Buffer.alloc(40 * 20);
    for (let y = 0; y < 20; y++) for (let x = 0; x < 40; x++) px[y * 40 + x] = x < 10 || x >= 30 ? 0 : 255;
    await sharp(px, { raw: { width: 40, height: 20, channels: 1 } })
      .png()
      .toFile(wide.replace('.jpg', '.png'));
    const out = await new ImageLoader({ size: 20 }, null).load({
      dicomId: 'w',
      imageFile: wide.replace('.jpg', '.png'),
    });
    expect(Math.min(...out!)).toBeGreaterThan(200);
  });
});

describe('phantom content follows the labels', () => {
  test('cardiothoracic ratio above 0.5 for cardiomegaly, below for normal; effusion raises lower-zone density', async () => {
    const r = loadMimic({ root, checkImages: true });
    const truth = new Map(readCsv(path.join(root, TRUTH_FILE)).rows.map((row) => [row[0], row]));
    const ctr = { cardiomegaly: [] as number[], normal: [] as number[] };
    const lower = { effusion: [] as number[], clear: [] as number[] };
    const confounders = ['Pleural Effusion', 'Consolidation', 'Pneumonia', 'Lung Opacity', 'Atelectasis'].map((l) =>
      labelIndex(l as never),
    );
    for (const rec of r.records) {
      const t = truth.get(rec.dicomId)!;
      const pose = { scaleX: +t[2], scaleY: +t[3], shiftX: +t[4], shiftY: +t[5], rotation: +t[6] };
      const { data, info } = await sharp(rec.imageFile).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
      const px = new Uint8Array(data.buffer, data.byteOffset, data.length);
      const card = rec.labels[labelIndex('Cardiomegaly')];
      const clean = confounders.every((k) => rec.labels[k] !== POSITIVE && rec.labels[k] !== UNCERTAIN);
      if (clean && card === POSITIVE) ctr.cardiomegaly.push(cardiothoracicRatio(px, info.width, info.height, pose));
      if (clean && (rec.labels[labelIndex('No Finding')] === POSITIVE || card === NEGATIVE))
        ctr.normal.push(cardiothoracicRatio(px, info.width, info.height, pose));
      const eff = rec.labels[labelIndex('Pleural Effusion')];
      if (eff === POSITIVE) lower.effusion.push(lowerZoneBrightness(px, info.width, info.height, pose));
      if (rec.labels[labelIndex('No Finding')] === POSITIVE)
        lower.clear.push(lowerZoneBrightness(px, info.width, info.height, pose));
    }
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    console.log(
      `CTR cardiomegaly n=${ctr.cardiomegaly.length} min ${Math.min(...ctr.cardiomegaly).toFixed(3)} mean ${mean(ctr.cardiomegaly).toFixed(3)}; ` +
        `normal n=${ctr.normal.length} max ${Math.max(...ctr.normal).toFixed(3)} mean ${mean(ctr.normal).toFixed(3)}; ` +
        `lower-zone brightness effusion ${mean(lower.effusion).toFixed(1)} (n=${lower.effusion.length}) vs clear ${mean(lower.clear).toFixed(1)} (n=${lower.clear.length})`,
    );
    expect(ctr.cardiomegaly.length).toBeGreaterThan(2);
    expect(ctr.normal.length).toBeGreaterThan(5);
    expect(Math.min(...ctr.cardiomegaly)).toBeGreaterThan(0.5);
    expect(Math.max(...ctr.normal)).toBeLessThan(0.5);
    expect(mean(lower.effusion)).toBeGreaterThan(mean(lower.clear) + 20);
  });
});

describe('data CLI', () => {
  test('data synth writes a dataset that data inspect reads; bad options are refused', () => {
    const out = path.join(tmpDir('cli-synth'), 'd');
    const r = runCli(['data', 'synth', '--out', out, '--studies', '5', '--size', '64', '--seed', '3']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/5 studies/);
    expect(runCli(['data', 'inspect', '--root', out]).stdout).toMatch(/problems: 0/);
    expect(runCli(['data', 'synth']).stderr).toMatch(/needs --out/);
    expect(runCli(['data', 'synth', '--out', path.join(out, 'x'), '--size', '7']).stderr).toMatch(
      /--size must be an integer in \[32, 4096\]/,
    );
    expect(runCli(['data', 'inspect', '--root', '/nonexistent']).stderr).toMatch(/\/nonexistent: no such folder/);
  });
});
