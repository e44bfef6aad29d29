/**
 * LoRA adapters of a UNet as files: diffusers' pytorch_lora_weights.safetensors with PEFT's key
 * names under the `unet.` prefix (`unet.<module>.lora_A.weight` [rank, in], `.lora_B.weight`
 * [out, rank]), on each attention's to_q, to_k, to_v and to_out.0, as diffusers' LoRA training
 * scripts target. lora_alpha = rank (scale 1), the scripts' default; a file written with another
 * alpha says so in its metadata (`lora_alpha`). Reading also takes diffusers' older names:
 * `<module>.lora.down` / `.lora.up`, and the attention-processor form
 * `<attn>.processor.to_q_lora.down` (to_out_lora meaning to_out.0).
 */
import * as fs from 'fs';
import type { NativeUNet } from './native';
import { engineCall } from './native-errors';
import type { TensorData } from './tensor';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import { UserError } from '../util/errors';

export const LORA_FILE = 'pytorch_lora_weights.safetensors';
const PREFIX = 'unet.';

export function isLoraParam(name: string): boolean {
  return name.endsWith('.lora_A.weight') || name.endsWith('.lora_B.weight');
}

/** Freezes the UNet and adds adapters of this rank (scale = alpha / rank). */
export function enableLora(unet: NativeUNet, rank: number, alpha = rank): void {
  engineCall(() => unet.enableLora({ rank, scale: alpha / rank }), 'LoRA');
}

export function saveLora(unet: NativeUNet, file: string): void {
  const tensors: Record<string, TensorData> = {};
  for (const p of unet.paramInfo()) if (isLoraParam(p.name)) tensors[PREFIX + p.name] = unet.getParam(p.name);
  const rank = String(unet.loraRank());
  writeSafetensors(file, tensors, { format: 'pt', lora_rank: rank, lora_alpha: rank });
}

/** The engine's parameter name for a key of a LoRA file (PEFT or older diffusers names). */
function paramName(key: string): string {
  return key
    .slice(key.startsWith(PREFIX) ? PREFIX.length : 0)
    .replace(/\.processor\.to_(q|k|v|out)_lora\.(down|up)\.weight$/, (_m, proj: string, dir: string) => {
      const module = proj === 'out' ? 'to_out.0' : `to_${proj}`;
      return `.${module}.lora.${dir}.weight`;
    })
    .replace(/\.lora\.down\.weight$/, '.lora_A.weight')
    .replace(/\.lora\.up\.weight$/, '.lora_B.weight');
}

/**
 * Loads a LoRA file into a UNet with its base weights already loaded, enabling adapters of the
 * file's rank first when the UNet has none. Every adapter must be present with its shape, and
 * nothing else: a file for another model is refused with the names.
 */
export function loadLora(unet: NativeUNet, file: string): void {
  if (!fs.existsSync(file)) throw new UserError(`${file}: no such file`);
  const f = readSafetensors(file);
  const byName = new Map(Object.entries(f.tensors).map(([k, t]) => [paramName(k), { key: k, t }]));
  const first = [...byName.entries()].find(([n]) => n.endsWith('.lora_A.weight'));
  if (!first) throw new UserError(`${file}: no LoRA weights (no unet.*.lora_A.weight keys)`);
  const rank = first[1].t.shape[0];
  const alpha = f.metadata.lora_alpha !== undefined ? Number(f.metadata.lora_alpha) : rank;
  if (!(alpha > 0)) throw new UserError(`${file}: metadata lora_alpha must be a positive number`);
  if (unet.loraRank() === 0) enableLora(unet, rank, alpha);
  else if (unet.loraRank() !== rank)
    throw new UserError(`${file}: LoRA rank ${rank}, but the model's adapters have rank ${unet.loraRank()}`);
  const wanted = unet.paramInfo().filter((p) => isLoraParam(p.name));
  const missing = wanted.filter((p) => !byName.has(p.name)).map((p) => p.name);
  const known = new Set(wanted.map((p) => p.name));
  const extra = [...byName.values()].filter((v) => !known.has(paramName(v.key))).map((v) => v.key);
  const shape = wanted.filter((p) => byName.has(p.name) && byName.get(p.name)!.t.shape.join(',') !== p.shape.join(','));
  if (missing.length || extra.length || shape.length)
    throw new UserError(
      `${file}: LoRA weights do not match the model: ${missing.length} missing (${missing.slice(0, 3).join(', ')}), ` +
        `${extra.length} unexpected (${extra.slice(0, 3).join(', ')}), ${shape.length} with another shape`,
    );
  for (const p of wanted) unet.setParam(p.name, byName.get(p.name)!.t.data);
}
