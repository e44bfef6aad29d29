/**
 * Reward-model contracts: NAME.onnx.json beside NAME.onnx says what the network is (kind), how to
 * feed it (input name, size, channels, value range, normalisation, resize policy) and how to read
 * it (output names and meaning, classifier label names and their CheXpert mapping). A contract is
 * checked on its own, then against the ONNX file's declared inputs and outputs when loaded.
 */
import * as fs from 'fs';
import { CHEXPERT_LABELS } from '../data/labels';
import type { TensorInfo } from '../onnx/runtime';
import { UserError } from '../util/errors';

export const CONTRACT_FORMAT = 'cxrl-reward-contract';
export const KINDS = ['posture', 'classifier', 'consistency-image', 'consistency-text', 'features'] as const;
export type ContractKind = (typeof KINDS)[number];
export const PSI_ORDER = ['s_x', 's_y', 't_x', 't_y', 'theta'] as const;

export interface ImageInput {
  name: string;
  /** [height, width] */
  size: [number, number];
  /** 1 (grayscale) or 3 (the gray image repeated) */
  channels: 1 | 3;
  /** black maps to range[0], white to range[1] */
  range: [number, number];
  /** optional per-channel (x - mean) / std after the range mapping */
  mean?: number[];
  std?: number[];
  /** how a non-matching image is brought to size: shorter side + centre crop, or a plain stretch */
  resize: 'shorter-side-center-crop' | 'stretch';
}

export interface TextInput {
  tokenizer: 'cxrl-word' | 'clip';
  /** cxrl-word: a tokenizer.json; clip: a folder with vocab.json + merges.txt (relative to the contract) */
  tokenizer_path: string;
  length: number;
  ids_input: string;
  mask_input?: string;
}

export interface Contract {
  format: typeof CONTRACT_FORMAT;
  version: 1;
  kind: ContractKind;
  description?: string;
  input?: ImageInput;
  text?: TextInput;
  /** output role -> ONNX output name; roles by kind: posture {psi}, classifier {probabilities} or {logits}, consistency-* / features {embedding} */
  outputs: Record<string, string>;
  /** classifier: the model's label names, in output order */
  labels?: string[];
  /** classifier: model label -> CheXpert label (labels not listed are not used for s_diag) */
  label_map?: Record<string, string>;
  /** posture: the meaning of the 5 outputs (must be s_x, s_y, t_x, t_y, theta) */
  psi_order?: string[];
  /** consistency-image: the paired text model, NAME.onnx relative to this contract */
  pair?: string;
}

type Json = Record<string, unknown>;

function fail(file: string, what: string): never {
  throw new UserError(`${file}: ${what}`);
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isPosInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;

function checkImageInput(v: unknown, file: string): ImageInput {
  if (!v || typeof v !== 'object') fail(file, '"input" must be an object {name, size, channels, range, resize}');
  const i = v as Json;
  if (typeof i.name !== 'string' || !i.name) fail(file, '"input.name" must be the ONNX input name');
  if (!Array.isArray(i.size) || i.size.length !== 2 || !i.size.every(isPosInt))
    fail(file, '"input.size" must be [height, width] in pixels');
  if (i.channels !== 1 && i.channels !== 3)
    fail(file, `"input.channels" must be 1 or 3, got ${JSON.stringify(i.channels)}`);
  if (
    !Array.isArray(i.range) ||
    i.range.length !== 2 ||
    !i.range.every(isNum) ||
    !((i.range[0] as number) < (i.range[1] as number))
  )
    fail(file, '"input.range" must be [black, white] with black < white');
  for (const k of ['mean', 'std'] as const) {
    if (i[k] === undefined) continue;
    if (!Array.isArray(i[k]) || (i[k] as unknown[]).length !== i.channels || !(i[k] as unknown[]).every(isNum))
      fail(file, `"input.${k}" must have one number per channel (${i.channels})`);
  }
  if (Array.isArray(i.std) && (i.std as number[]).some((s) => s <= 0))
    fail(file, '"input.std" entries must be positive');
  if ((i.mean === undefined) !== (i.std === undefined)) fail(file, '"input.mean" and "input.std" go together');
  const resize = i.resize ?? 'shorter-side-center-crop';
  if (resize !== 'shorter-side-center-crop' && resize !== 'stretch')
    fail(file, `"input.resize" must be "shorter-side-center-crop" or "stretch", got ${JSON.stringify(resize)}`);
  return {
    name: i.name as string,
    size: i.size as [number, number],
    channels: i.channels as 1 | 3,
    range: i.range as [number, number],
    ...(i.mean !== undefined ? { mean: i.mean as number[], std: i.std as number[] } : {}),
    resize,
  };
}

function checkTextInput(v: unknown, file: string): TextInput {
  if (!v || typeof v !== 'object')
    fail(file, '"text" must be an object {tokenizer, tokenizer_path, length, ids_input}');
  const t = v as Json;
  if (t.tokenizer !== 'cxrl-word' && t.tokenizer !== 'clip')
    fail(file, '"text.tokenizer" must be "cxrl-word" or "clip"');
  if (typeof t.tokenizer_path !== 'string') fail(file, '"text.tokenizer_path" must name the tokenizer file or folder');
  if (!isPosInt(t.length)) fail(file, '"text.length" must be a positive integer (tokens per report)');
  if (typeof t.ids_input !== 'string') fail(file, '"text.ids_input" must be the ONNX input name of the token ids');
  if (t.mask_input !== undefined && typeof t.mask_input !== 'string') fail(file, '"text.mask_input" must be a string');
  return {
    tokenizer: t.tokenizer,
    tokenizer_path: t.tokenizer_path,
    length: t.length,
    ids_input: t.ids_input,
    ...(t.mask_input !== undefined ? { mask_input: t.mask_input as string } : {}),
  };
}

const ROLES: Record<ContractKind, string[][]> = {
  posture: [['psi']],
  classifier: [['probabilities'], ['logits']],
  'consistency-image': [['embedding']],
  'consistency-text': [['embedding']],
  features: [['embedding']],
};

/** Checks a parsed contract on its own (names, types, kind-specific fields). */
export function checkContract(raw: unknown, file: string): Contract {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail(file, 'expected a JSON object');
  const c = raw as Json;
  if (c.format !== CONTRACT_FORMAT) fail(file, `"format" must be "${CONTRACT_FORMAT}"`);
  if (c.version !== 1) fail(file, `"version" ${JSON.stringify(c.version)} is not supported (1 is)`);
  if (!KINDS.includes(c.kind as ContractKind))
    fail(file, `"kind" must be one of ${KINDS.join(', ')}, got ${JSON.stringify(c.kind)}`);
  const kind = c.kind as ContractKind;
  if (
    !c.outputs ||
    typeof c.outputs !== 'object' ||
    Array.isArray(c.outputs) ||
    !Object.values(c.outputs).every((v) => typeof v === 'string')
  )
    fail(file, '"outputs" must map roles to ONNX output names');
  const roles = Object.keys(c.outputs as Json);
  if (!ROLES[kind].some((need) => need.every((r) => roles.includes(r))))
    fail(file, `a ${kind} contract needs outputs ${ROLES[kind].map((r) => `{${r.join(', ')}}`).join(' or ')}`);
  const out: Contract = {
    format: CONTRACT_FORMAT,
    version: 1,
    kind,
    outputs: c.outputs as Record<string, string>,
    ...(typeof c.description === 'string' ? { description: c.description } : {}),
    ...(Array.isArray(c.labels) ? { labels: c.labels as string[] } : {}),
    ...(Array.isArray(c.psi_order) ? { psi_order: c.psi_order as string[] } : {}),
    ...(typeof c.pair === 'string' ? { pair: c.pair } : {}),
  };
  if (kind === 'consistency-text') out.text = checkTextInput(c.text, file);
  else out.input = checkImageInput(c.input, file);
  if (kind === 'classifier') {
    if (!Array.isArray(c.labels) || c.labels.length === 0 || !c.labels.every((l) => typeof l === 'string'))
      fail(file, '"labels" must list the classifier\'s output names in order');
    const map = (c.label_map ??
      Object.fromEntries(
        (c.labels as string[]).filter((l) => (CHEXPERT_LABELS as readonly string[]).includes(l)).map((l) => [l, l]),
      )) as Json;
    for (const [k, v] of Object.entries(map)) {
      if (!(c.labels as string[]).includes(k)) fail(file, `"label_map" key "${k}" is not one of "labels"`);
      if (!(CHEXPERT_LABELS as readonly string[]).includes(v as string))
        fail(file, `"label_map" value "${String(v)}" is not a CheXpert label (${CHEXPERT_LABELS.join(', ')})`);
    }
    if (Object.keys(map).length === 0) fail(file, 'no classifier label maps to a CheXpert label; add "label_map"');
    out.label_map = map as Record<string, string>;
  }
  if (kind === 'posture') {
    const order = (c.psi_order ?? [...PSI_ORDER]) as unknown[];
    if (!Array.isArray(order) || order.join() !== PSI_ORDER.join())
      fail(file, `"psi_order" must be ${JSON.stringify(PSI_ORDER)}`);
  }
  if (kind === 'consistency-image' && typeof c.pair !== 'string')
    fail(file, '"pair" must name the paired consistency-text model (NAME.onnx)');
  return out;
}

export function readContract(onnxFile: string): Contract {
  const file = `${onnxFile}.json`;
  if (!fs.existsSync(file))
    fail(file, `missing: every reward model needs its contract beside it (${onnxFile} + .json)`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    fail(file, `not valid JSON (${(e as Error).message})`);
  }
  return checkContract(raw, file);
}

function checkDims(
  problems: string[],
  what: string,
  declared: (number | string)[] | undefined,
  want: (number | null)[],
): void {
  if (!declared || declared.length === 0) return;
  if (declared.length !== want.length) {
    problems.push(
      `${what} has rank ${declared.length} in the ONNX file, the contract implies [${want.map((w) => w ?? 'N').join(', ')}]`,
    );
    return;
  }
  declared.forEach((d, k) => {
    if (typeof d === 'number' && d > 0 && want[k] !== null && d !== want[k])
      problems.push(`${what} dimension ${k} is ${d} in the ONNX file, the contract says ${want[k]}`);
  });
}

/** Checks a contract against the ONNX session's declared inputs and outputs; names every mismatch. */
export function checkAgainstModel(c: Contract, inputs: TensorInfo[], outputs: TensorInfo[], file: string): void {
  const problems: string[] = [];
  const inNames = inputs.map((i) => i.name),
    outNames = outputs.map((o) => o.name);
  const findInput = (name: string) => {
    const i = inputs.find((x) => x.name === name);
    if (!i)
      problems.push(`the contract's input "${name}" is not an input of the ONNX model (it has ${inNames.join(', ')})`);
    return i;
  };
  if (c.input) {
    const i = findInput(c.input.name);
    if (i) {
      if (i.type && i.type !== 'float32')
        problems.push(`input "${i.name}" is ${i.type} in the ONNX file; image inputs must be float32`);
      checkDims(problems, `input "${i.name}"`, i.shape, [null, c.input.channels, c.input.size[0], c.input.size[1]]);
      // (When the contract's input is missing, the message above already lists the model's inputs.)
      const extra = inNames.filter((n) => n !== c.input!.name);
      if (extra.length) problems.push(`the ONNX model has inputs the contract does not feed: ${extra.join(', ')}`);
    }
  }
  if (c.text) {
    for (const n of [c.text.ids_input, c.text.mask_input].filter((x): x is string => !!x)) {
      const i = findInput(n);
      if (!i) continue;
      if (i.type && i.type !== 'int64' && i.type !== 'int32')
        problems.push(`input "${n}" is ${i.type}; token inputs must be int64 or int32`);
      checkDims(problems, `input "${n}"`, i.shape, [null, c.text.length]);
    }
  }
  for (const [role, name] of Object.entries(c.outputs)) {
    const o = outputs.find((x) => x.name === name);
    if (!o) {
      problems.push(
        `the contract's ${role} output "${name}" is not an output of the ONNX model (it has ${outNames.join(', ')})`,
      );
      continue;
    }
    const width = role === 'psi' ? 5 : role === 'probabilities' || role === 'logits' ? c.labels!.length : null;
    checkDims(problems, `output "${name}"`, o.shape, [null, width]);
  }
  if (problems.length)
    fail(file, problems.length === 1 ? problems[0] : `${problems.length} mismatches: ${problems.join('; ')}`);
}
