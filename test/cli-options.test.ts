/**
 * Table-driven CLI tests of options and error paths that other suites do not reach: generate's
 * --eta/--no-ema/--format/--batch-size/--device and prompt files, pretraining's optimisation
 * options, reward fit's options, reward score's report sources and outputs, data inspect's options,
 * fp16/bf16 weights and debug step's shape errors. Each error case asserts the exit code, the one
 * line naming the problem, and that nothing already written changed.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CliFixture, makeCliFixture } from './fixtures';
import { readMetrics, runCli, runPython } from './helpers';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors';
import { readCsv, writeCsv } from '../src/data/csv';
import { writeMixedSafetensors } from './reference/safetensors-mixed';
import { loadAddon } from '../src/engine/native';

let f: CliFixture;
let gen: string; // a generate output with sidecars, made once
beforeAll(() => {
  f = makeCliFixture('cli-options', { studies: 24, rewards: true });
  gen = path.join(f.work, 'gen');
  f.ok([
    'generate',
    '--checkpoint',
    f.init,
    '--prompt',
    'Heart size normal.',
    '--prompt',
    'Small left pleural effusion.',
    '-n',
    '2',
    '--steps',
    '2',
    '--out',
    gen,
  ]);
}, 300_000);

const run = (args: string[]) => runCli(args, f.env());
const sidecar = (dir: string, name: string) => JSON.parse(fs.readFileSync(path.join(dir, `${name}.json`), 'utf8'));
const out = (name: string) => path.join(f.work, name);

/** Every file under a folder with its bytes, to prove an error left it untouched. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else files[path.relative(dir, p)] = fs.readFileSync(p).toString('base64');
    }
  };
  walk(dir);
  return files;
}

describe('generate options', () => {
  test('--eta 0.5 is recorded and changes the image from the eta 0 one (same seed)', () => {
    f.ok([
      'generate',
      '--checkpoint',
      f.init,
      '--prompt',
      'Heart size normal.',
      '--steps',
      '3',
      '--eta',
      '0.5',
      '--out',
      out('eta'),
    ]);
    f.ok(['generate', '--checkpoint', f.init, '--prompt', 'Heart size normal.', '--steps', '3', '--out', out('eta0')]);
    expect(sidecar(out('eta'), '0-0').eta).toBe(0.5);
    expect(sidecar(out('eta0'), '0-0').eta).toBe(0);
    expect(fs.readFileSync(path.join(out('eta'), '0-0.png'))).not.toEqual(
      fs.readFileSync(path.join(out('eta0'), '0-0.png')),
    );
  });

  test('--no-ema samples the raw weights; the default uses the EMA weights', () => {
    f.ok(['generate', '--checkpoint', f.init, '--prompt', 'x', '--steps', '2', '--no-ema', '--out', out('noema')]);
    expect(sidecar(out('noema'), '0-0').weights).toBe('unet.safetensors');
    expect(sidecar(gen, '0-0').weights).toBe('unet_ema.safetensors');
    expect(sidecar(out('noema'), '0-0').weights_sha256).not.toBe(sidecar(gen, '0-0').weights_sha256);
  });

  test('--format jpeg writes JPEG files', () => {
    f.ok([
      'generate',
      '--checkpoint',
      f.init,
      '--prompt',
      'x',
      '--steps',
      '2',
      '--format',
      'jpeg',
      '--out',
      out('jpeg'),
    ]);
    const bytes = fs.readFileSync(path.join(out('jpeg'), '0-0.jpg'));
    expect([bytes[0], bytes[1], bytes[2]]).toEqual([0xff, 0xd8, 0xff]);
  });

  test('--batch-size sets the noise: batch c uses seed + c, image j of it stream j', () => {
    f.ok([
      'generate',
      '--checkpoint',
      f.init,
      '--prompt',
      'a',
      '--prompt',
      'b',
      '--prompt',
      'c',
      '--steps',
      '2',
      '--batch-size',
      '2',
      '--seed',
      '5',
      '--out',
      out('bs'),
    ]);
    expect(['0-0', '1-0', '2-0'].map((n) => [sidecar(out('bs'), n).seed, sidecar(out('bs'), n).noise_stream])).toEqual([
      [5, 0],
      [5, 1],
      [6, 0],
    ]);
  });

  test('.txt and .csv prompt files give one image per prompt, in order', () => {
    fs.writeFileSync(out('prompts.txt'), 'Heart size normal.\n\nSmall left pleural effusion.\n');
    fs.writeFileSync(out('prompts.csv'), 'study,impression\n1,"Cardiomegaly, mild."\n2,No acute process.\n');
    f.ok(['generate', '--checkpoint', f.init, '--prompts', out('prompts.txt'), '--steps', '1', '--out', out('txt')]);
    f.ok(['generate', '--checkpoint', f.init, '--prompts', out('prompts.csv'), '--steps', '1', '--out', out('csv')]);
    expect([sidecar(out('txt'), '0-0').prompt, sidecar(out('txt'), '1-0').prompt]).toEqual([
      'Heart size normal.',
      'Small left pleural effusion.',
    ]);
    expect([sidecar(out('csv'), '0-0').prompt, sidecar(out('csv'), '1-0').prompt]).toEqual([
      'Cardiomegaly, mild.',
      'No acute process.',
    ]);
  });

  test('--device cuda runs the UNet on the GPU or says why it cannot; --device auto falls back to the CPU; bf16 needs CUDA', () => {
    const args = (device: string, dir: string) => [
      'generate',
      '--checkpoint',
      f.init,
      '--prompt',
      'x',
      '--steps',
      '1',
      '--device',
      device,
      '--out',
      out(dir),
    ];
    const cuda = run(args('cuda', 'dev-cuda'));
    if (loadAddon().info().cuda.usable) {
      expect(cuda.status).toBe(0);
      expect(fs.existsSync(path.join(out('dev-cuda'), '0-0.png'))).toBe(true);
    } else {
      expect(cuda.status).toBe(2);
      expect(cuda.stderr).toMatch(/--device cuda: CUDA is not usable here: \S/);
      expect(fs.existsSync(path.join(out('dev-cuda'), '0-0.png'))).toBe(false);
    }
    f.ok(args('auto', 'dev-auto'));
    expect(fs.existsSync(path.join(out('dev-auto'), '0-0.png'))).toBe(true);
    const bf16OnCpu = run([...args('cpu', 'dev-bf16'), '--precision', 'bf16']);
    expect(bf16OnCpu.status).toBe(2);
    expect(bf16OnCpu.stderr).toMatch(/--precision bf16 needs --device cuda/);
    expect(fs.existsSync(out('dev-bf16'))).toBe(false);
  });
});

interface ErrorCase {
  name: string;
  /** prepares what the case breaks (run before the snapshot) */
  setup?: () => void;
  args: () => string[];
  message: RegExp;
  /** the folder that must be byte-identical afterwards */
  keep: () => string;
}

/** A copy of the fixture's pretraining run with one checkpoint file replaced. */
function brokenRun(name: string, file: string, content: (original: Buffer) => Buffer | string): string {
  const dir = out(`broken-${name}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.cpSync(path.dirname(f.init), dir, { recursive: true });
  const target = path.join(dir, 'checkpoint', file);
  fs.writeFileSync(target, content(fs.readFileSync(target)));
  return dir;
}
const resumeArgs = (dir: string) => [
  'train',
  '--stage',
  'pretrain',
  '--data',
  f.data,
  '--out',
  dir,
  '--resume',
  '--preset',
  path.join(f.work, 'unet.json'),
  '--image-size',
  '16',
  '--batch-size',
  '4',
  '--text-length',
  '12',
  '--steps',
  '5',
];

const ERRORS: ErrorCase[] = [
  {
    name: 'train --resume with state.json holding {}',
    setup: () => void brokenRun('state', 'state.json', () => '{}'),
    args: () => resumeArgs(out('broken-state')),
    message: /state\.json: not a pretraining checkpoint/,
    keep: () => out('broken-state'),
  },
  {
    name: 'train --resume with a truncated optimizer.safetensors (named once)',
    setup: () => void brokenRun('opt', 'optimizer.safetensors', (b) => b.subarray(0, 100)),
    args: () => resumeArgs(out('broken-opt')),
    message: /^cxrl-native: [^:]*optimizer\.safetensors: header length \d+ exceeds the file/,
    keep: () => out('broken-opt'),
  },
  {
    name: 'train --resume with a truncated unet_ema.safetensors',
    setup: () => void brokenRun('ema', 'unet_ema.safetensors', (b) => b.subarray(0, 100)),
    args: () => resumeArgs(out('broken-ema')),
    message: /unet_ema\.safetensors: header length \d+ exceeds the file/,
    keep: () => out('broken-ema'),
  },
  ...(
    [
      ['--eta', '-1', /eta/],
      ['--steps', '0', /steps/],
      ['--batch-size', '0', /batch-size/],
      ['--guidance-scale', 'abc', /guidance-scale/],
      ['--format', 'gif', /format/],
      ['--height', '0', /--height must be a positive integer/],
      ['--width', '15', /--width 15: this model makes images whose sides are positive multiples of 2/],
    ] as const
  ).map(([flag, value, message]) => ({
    name: `generate ${flag} ${value}`,
    args: () => ['generate', '--checkpoint', f.init, '--prompt', 'x', flag, value, '--out', gen, '--overwrite'],
    message,
    keep: () => gen,
  })),
  {
    name: 'generate --prompts missing',
    args: () => ['generate', '--checkpoint', f.init, '--prompts', out('missing.txt'), '--out', gen, '--overwrite'],
    message: /missing\.txt/,
    keep: () => gen,
  },
  ...(
    [
      ['--grad-accum', '0', /grad-accum/],
      ['--lr', '-1', /lr/],
      ['--ema-decay', '1.5', /ema-decay/],
      ['--warmup', '-1', /warmup/],
      ['--seed', 'abc', /seed/],
    ] as const
  ).map(([flag, value, message]) => ({
    name: `train ${flag} ${value}`,
    args: () => [
      'train',
      '--stage',
      'pretrain',
      '--data',
      f.data,
      '--out',
      path.dirname(f.init),
      '--resume',
      flag,
      value,
    ],
    message,
    keep: () => path.dirname(f.init),
  })),
  ...(
    [
      ['--image-size', '0', /image-size/],
      ['--lr', '0', /lr/],
      ['--batch-size', '1.5', /batch-size/],
    ] as const
  ).map(([flag, value, message]) => ({
    name: `reward fit ${flag} ${value}`,
    args: () => [
      'reward',
      'fit',
      '--kind',
      'posture',
      '--data',
      f.data,
      '--out',
      path.join(f.rewards, 'posture.onnx'),
      '--overwrite',
      flag,
      value,
    ],
    message,
    keep: () => f.rewards,
  })),
  {
    name: 'plot of a folder without metrics.jsonl',
    args: () => ['plot', f.data],
    message: /metrics\.jsonl: no such file/,
    keep: () => f.data,
  },
  {
    name: 'reward score --reports missing',
    args: () => ['reward', 'score', '--models', f.rewards, '--images', gen, '--reports', out('nope.jsonl')],
    message: /nope\.jsonl/,
    keep: () => gen,
  },
];

describe('errors: exit 2, one line naming the problem, nothing changed', () => {
  test.each(ERRORS.map((c) => [c.name, c]))('%s', (_name, c) => {
    c.setup?.();
    const before = snapshot(c.keep());
    const r = run(c.args());
    expect({ status: r.status, lines: r.stderr.trim().split('\n').length }).toEqual({ status: 2, lines: 1 });
    expect(r.stderr).toMatch(/^cxrl-native: /);
    expect(r.stderr).toMatch(c.message);
    expect(snapshot(c.keep())).toEqual(before);
  });
});

describe('train and reward fit record and use their options', () => {
  test('train: --grad-accum, --lr, --ema-decay, --warmup, --seed', () => {
    const dir = out('pre-opts');
    f.ok([
      'train',
      '--stage',
      'pretrain',
      '--data',
      f.data,
      '--out',
      dir,
      '--preset',
      path.join(f.work, 'unet.json'),
      '--image-size',
      '16',
      '--steps',
      '3',
      '--batch-size',
      '2',
      '--grad-accum',
      '2',
      '--lr',
      '2e-3',
      '--ema-decay',
      '0.5',
      '--warmup',
      '2',
      '--seed',
      '7',
      '--text-length',
      '12',
      '--sample-every',
      '0',
    ]);
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'checkpoint', 'state.json'), 'utf8'));
    expect(state.settings).toMatchObject({ gradAccum: 2, lr: 2e-3, emaDecay: 0.5, warmupSteps: 2, seed: 7 });
    expect(state.state.batchInEpoch).toBe(6); // 3 steps x 2 micro-batches
    const lrs = readMetrics(dir).map((m) => m.lr);
    expect(lrs).toEqual([1e-3, 2e-3, 2e-3]); // linear warm-up over 2 steps
    const ema = readSafetensors(path.join(dir, 'checkpoint', 'unet_ema.safetensors')).tensors['conv_in.weight'].data;
    const raw = readSafetensors(path.join(dir, 'checkpoint', 'unet.safetensors')).tensors['conv_in.weight'].data;
    expect(ema).not.toEqual(raw);
    // The run drew its curves; `plot` redraws them from metrics.jsonl.
    const png = fs.readFileSync(path.join(dir, 'metrics.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(1120); // two 560-pixel panels side by side
    const again = f.ok(['plot', dir, '--out', out('replot.png')]);
    expect(again.stdout).toContain('replot.png');
    expect(fs.existsSync(out('replot.png'))).toBe(true);
  });

  test('reward fit: --batch-size, --lr and --image-size reach the contract', () => {
    const file = path.join(out('rw-opts'), 'posture.onnx');
    f.ok([
      'reward',
      'fit',
      '--kind',
      'posture',
      '--data',
      f.data,
      '--out',
      file,
      '--steps',
      '2',
      '--image-size',
      '32',
      '--batch-size',
      '4',
      '--lr',
      '1e-3',
    ]);
    const contract = JSON.parse(fs.readFileSync(file + '.json', 'utf8'));
    expect(contract.fit).toMatchObject({ batch_size: 4, lr: 1e-3, image_size: 32, steps: 2 });
  });
});

describe('reward score sources and outputs', () => {
  test("generate's sidecars supply the reports; the table names every score", () => {
    const r = f.ok(['reward', 'score', '--models', f.rewards, '--images', gen]);
    for (const col of ['r_align', 's_diag', 's_cons']) expect(r.stdout).toContain(col);
    expect(r.stdout).toContain('0-0.png');
  });

  test('JSONL reports are read by image name; images without a report get only what needs none', () => {
    const text = 'Moderate cardiomegaly. Small left pleural effusion.';
    fs.writeFileSync(
      out('reports.jsonl'),
      ['0-0.png', '1-1.png'].map((image) => JSON.stringify({ image, text })).join('\n') + '\n',
    );
    const r = f.ok([
      'reward',
      'score',
      '--models',
      f.rewards,
      '--images',
      gen,
      '--reports',
      out('reports.jsonl'),
      '--json',
    ]);
    const byFile = Object.fromEntries(
      (JSON.parse(r.stdout).images as Record<string, unknown>[]).map((im) => [im.file, im]),
    );
    expect(Object.keys(byFile).sort()).toEqual(['0-0.png', '0-1.png', '1-0.png', '1-1.png']);
    for (const f of ['0-0.png', '1-1.png'])
      for (const k of ['r_align', 's_diag', 's_cons']) expect(Number.isFinite(byFile[f][k])).toBe(true);
    for (const f of ['0-1.png', '1-0.png']) {
      expect(Number.isFinite(byFile[f].r_align)).toBe(true);
      expect(byFile[f].s_cons).toBeNull();
    }
  });

  test('an unreadable image is skipped, counted and named; --strict stops at it', () => {
    const dir = out('gen-broken');
    fs.cpSync(gen, dir, { recursive: true });
    fs.writeFileSync(path.join(dir, '0-1.png'), fs.readFileSync(path.join(dir, '0-1.png')).subarray(0, 40));
    const lax = run(['reward', 'score', '--models', f.rewards, '--images', dir, '--json']);
    expect(lax.status).toBe(0);
    const j = JSON.parse(lax.stdout);
    expect(j.unreadable).toEqual(['0-1.png']);
    expect(j.images.map((im: { file: string }) => im.file)).toEqual(['0-0.png', '1-0.png', '1-1.png']);
    const strict = run(['reward', 'score', '--models', f.rewards, '--images', dir, '--strict']);
    expect(strict.status).toBe(2);
    expect(strict.stderr).toMatch(/0-1\.png: cannot read the image \(--strict\)/);
  });

  test('a malformed JSONL line is named with its line number', () => {
    fs.writeFileSync(out('bad.jsonl'), '{"image": "0-0.png", "text": "ok"}\n{not json}\n');
    const r = run(['reward', 'score', '--models', f.rewards, '--images', gen, '--reports', out('bad.jsonl')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/bad\.jsonl.*2/);
  });
});

describe('data inspect options', () => {
  test('--labels negbio counts the NegBio table (changed in a copy so it differs from CheXpert)', () => {
    const copy = out('data-negbio');
    fs.cpSync(f.data, copy, { recursive: true });
    const file = path.join(copy, 'mimic-cxr-2.0.0-negbio.csv.gz');
    const t = readCsv(file);
    const col = t.header.indexOf('Cardiomegaly');
    for (const row of t.rows) row[col] = '1.0';
    writeCsv(file, t.header, t.rows);
    const count = (labels: string) =>
      JSON.parse(f.ok(['data', 'inspect', '--root', copy, '--labels', labels, '--json']).stdout).labels.Cardiomegaly;
    expect(count('negbio').positive).toBe(t.rows.length);
    expect(count('chexpert').positive).toBeLessThan(t.rows.length);
  });

  test('--sectioned reads report text from a sectioned CSV; a study without a row is a counted problem', () => {
    const studies = readCsv(path.join(f.data, 'mimic-cxr-2.0.0-split.csv.gz'));
    const ids = [...new Set(studies.rows.map((r) => r[studies.header.indexOf('study_id')]))];
    const csv = out('sectioned.csv');
    fs.writeFileSync(
      csv,
      'study,impression,findings,last_paragraph\n' +
        ids
          .slice(1)
          .map((s) => `s${s},No acute process.,,`)
          .join('\n') +
        '\n',
    );
    const j = JSON.parse(f.ok(['data', 'inspect', '--root', f.data, '--sectioned', csv, '--json']).stdout);
    expect(j.reportSections.impression).toBe(ids.length - 1);
    expect(j.problems.total).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify(j.problems.first)).toContain(`s${ids[0]}`);
  });

  test('--strict stops at a missing image naming it; without it the problem is counted', () => {
    const copy = out('data-broken');
    fs.cpSync(f.data, copy, { recursive: true });
    const names = fs.readFileSync(path.join(copy, 'IMAGE_FILENAMES'), 'utf8').trim().split('\n');
    fs.unlinkSync(path.join(copy, names[0]));
    const lax = run(['data', 'inspect', '--root', copy]);
    expect(lax.status).toBe(0);
    const strict = run(['data', 'inspect', '--root', copy, '--strict']);
    expect(strict.status).toBe(2);
    expect(strict.stderr).toContain(path.basename(names[0]));
  });
});

describe('weights files and debug step shapes', () => {
  test('fp16 and bf16 UNet weights load (unet check), matching the fp32 weights rounded the same way', () => {
    const dir = out('halfw');
    fs.mkdirSync(dir, { recursive: true });
    const config = path.join(f.work, 'unet.json');
    const input = path.join(dir, 'in.safetensors');
    writeSafetensors(input, {
      sample: { data: Float32Array.from({ length: 256 }, (_, i) => Math.sin(i)), shape: [1, 1, 16, 16] },
      timestep: { data: Float32Array.of(500), shape: [1] },
      encoder_hidden_states: { data: Float32Array.from({ length: 48 }, (_, i) => Math.cos(i)), shape: [1, 3, 16] },
    });
    f.ok([
      'unet',
      'check',
      '--config',
      config,
      '--input',
      input,
      '--out',
      path.join(dir, 'o32.safetensors'),
      '--save-weights',
      path.join(dir, 'w32.safetensors'),
    ]);
    runPython('convert_weights.py', [path.join(dir, 'w32.safetensors'), dir]);
    const outputs: Record<string, Float32Array> = {};
    for (const kind of ['f16', 'bf16', 'f16_as_f32', 'bf16_as_f32']) {
      f.ok([
        'unet',
        'check',
        '--config',
        config,
        '--weights',
        path.join(dir, `w_${kind}.safetensors`),
        '--input',
        input,
        '--out',
        path.join(dir, `o_${kind}.safetensors`),
      ]);
      outputs[kind] = readSafetensors(path.join(dir, `o_${kind}.safetensors`)).tensors.output.data;
    }
    expect(outputs.f16).toEqual(outputs.f16_as_f32);
    expect(outputs.bf16).toEqual(outputs.bf16_as_f32);
  });

  test('unet check reads an int64 timestep tensor (as PyTorch writes it) like a float one', () => {
    const dir = out('i64');
    fs.mkdirSync(dir, { recursive: true });
    const config = path.join(f.work, 'unet.json');
    const common = {
      sample: { data: Float32Array.from({ length: 512 }, (_, i) => Math.sin(i)), shape: [2, 1, 16, 16] },
      encoder_hidden_states: { data: Float32Array.from({ length: 96 }, (_, i) => Math.cos(i)), shape: [2, 3, 16] },
    };
    writeMixedSafetensors(path.join(dir, 'f32.safetensors'), {
      ...common,
      timestep: { data: Float32Array.of(999, 1), shape: [2] },
    });
    writeMixedSafetensors(path.join(dir, 'i64.safetensors'), {
      ...common,
      timestep: { data: BigInt64Array.of(999n, 1n), shape: [2] },
    });
    const outputs = ['f32', 'i64'].map((k) => {
      f.ok([
        'unet',
        'check',
        '--config',
        config,
        '--input',
        path.join(dir, `${k}.safetensors`),
        '--out',
        path.join(dir, `o-${k}.safetensors`),
        '--save-weights',
        path.join(dir, `w-${k}.safetensors`),
      ]);
      return readSafetensors(path.join(dir, `o-${k}.safetensors`)).tensors.output.data;
    });
    expect(outputs[1]).toEqual(outputs[0]);
  });

  test('debug step: an eps of the wrong shape is named', () => {
    const file = out('step-bad.safetensors');
    writeSafetensors(file, {
      sample: { data: new Float32Array(8), shape: [2, 4] },
      eps: { data: new Float32Array(6), shape: [2, 3] },
      alpha_bar_t: { data: Float32Array.of(0.5), shape: [] },
      alpha_bar_prev: { data: Float32Array.of(0.6), shape: [] },
      eta: { data: Float32Array.of(1), shape: [] },
    });
    const r = run(['debug', 'step', '--in', file, '--out', out('step-bad-out.safetensors')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/step-bad\.safetensors: "eps" has shape \[2,3\] but sample is \[2,4\]/);
  });
});
