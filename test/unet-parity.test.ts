/**
 * The native UNet against an independent PyTorch autograd reference (test/reference/unet_reference.py,
 * run with Debian's python3-torch): the output and every gradient (input sample, encoder hidden
 * states, all parameters) agree within 1e-4 normwise relative error.
 */
import * as fs from 'fs';
import * as path from 'path';
import { unetCheck } from '../src/debug/unet-check';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors';
import { createUNet } from '../src/engine/unet';
import { Rng, testSeed } from '../src/util/random';
import { relError, runCli, runPython, tmpDir } from './helpers';

const CONFIGS: Record<string, object> = {
  // conv projections, one cross-attention level, flip_sin_to_cos, two levels
  conv_proj: {
    in_channels: 1,
    out_channels: 1,
    sample_size: 16,
    block_out_channels: [16, 32],
    down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
    up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
    layers_per_block: 1,
    attention_head_dim: 2,
    cross_attention_dim: 24,
    norm_num_groups: 8,
  },
  // linear projections, three levels, per-block heads, two layers per block, sin-first embedding,
  // freq_shift 1, several channels, a key mask
  linear_proj: {
    in_channels: 3,
    out_channels: 2,
    sample_size: 16,
    block_out_channels: [8, 16, 24],
    down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'],
    up_block_types: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'],
    layers_per_block: 2,
    attention_head_dim: [1, 2, 3],
    cross_attention_dim: 12,
    norm_num_groups: 4,
    use_linear_projection: true,
    flip_sin_to_cos: false,
    freq_shift: 1,
    norm_eps: 1e-6,
  },
};

describe('UNet parity with PyTorch autograd', () => {
  const seed = testSeed();
  beforeAll(() => console.log(`unet parity: seed ${seed} (CXRL_TEST_SEED to repeat)`));

  for (const [name, cfg] of Object.entries(CONFIGS)) {
    test(`${name}: output and every gradient within 1e-4`, () => {
      const dir = tmpDir(`parity-${name}`);
      const rng = new Rng(seed ^ name.length);
      const c = cfg as { in_channels: number; out_channels: number; sample_size: number; cross_attention_dim: number };
      const B = 2,
        L = 5,
        S = c.sample_size;
      const mask = new Float32Array(B * L).fill(1);
      if (name === 'linear_proj') mask[B * L - 1] = mask[B * L - 2] = 0;
      const input = {
        sample: { data: rng.normals(B * c.in_channels * S * S), shape: [B, c.in_channels, S, S] },
        timestep: { data: Float32Array.from([rng.int(0, 999), rng.int(0, 999)]), shape: [B] },
        encoder_hidden_states: {
          data: rng.normals(B * L * c.cross_attention_dim),
          shape: [B, L, c.cross_attention_dim],
        },
        encoder_attention_mask: { data: mask, shape: [B, L] },
        grad_output: { data: rng.normals(B * c.out_channels * S * S), shape: [B, c.out_channels, S, S] },
      };
      const files = {
        config: path.join(dir, 'config.json'),
        weights: path.join(dir, 'w.safetensors'),
        input: path.join(dir, 'in.safetensors'),
        ours: path.join(dir, 'ours.safetensors'),
        ref: path.join(dir, 'ref.safetensors'),
      };
      fs.writeFileSync(files.config, JSON.stringify(cfg));
      writeSafetensors(files.input, input);
      unetCheck({ config: files.config, input: files.input, out: files.ours, saveWeights: files.weights, seed });
      runPython('unet_reference.py', [files.config, files.weights, files.input, files.ref]);

      const ours = readSafetensors(files.ours).tensors;
      const ref = readSafetensors(files.ref).tensors;
      expect(Object.keys(ours).sort()).toEqual(Object.keys(ref).sort());
      let worst = { key: '', rel: 0, maxAbs: 0 };
      for (const key of Object.keys(ref)) {
        const e = relError(ours[key], ref[key]);
        if (e.rel > worst.rel) worst = { key, ...e };
      }
      const out = relError(ours.output, ref.output);
      console.log(
        `${name}: ${Object.keys(ref).length} tensors compared; output rel err ${out.rel.toExponential(2)}; ` +
          `worst ${worst.key} rel err ${worst.rel.toExponential(2)} (max abs ${worst.maxAbs.toExponential(2)})`,
      );
      expect(worst.rel).toBeLessThan(1e-4);
    });
  }

  test('float16 weights load as their float32 values; saving writes float32', () => {
    const dir = tmpDir('fp16');
    const cfgFile = path.join(dir, 'config.json');
    fs.writeFileSync(cfgFile, JSON.stringify(CONFIGS.conv_proj));
    const a = createUNet(CONFIGS.conv_proj as never, seed);
    const w32 = path.join(dir, 'w32.safetensors');
    a.saveWeights(w32);
    const inp = path.join(dir, 'in.safetensors');
    writeSafetensors(inp, {
      sample: { data: new Float32Array(2 * 16 * 16), shape: [2, 1, 16, 16] },
      timestep: { data: Float32Array.from([1]), shape: [1] },
      encoder_hidden_states: { data: new Float32Array(2 * 3 * 24), shape: [2, 3, 24] },
    });
    const f16 = path.join(dir, 'w16.safetensors'),
      f16as32 = path.join(dir, 'w16as32.safetensors');
    runPython('unet_reference.py', [
      cfgFile,
      w32,
      inp,
      path.join(dir, 'ignored.safetensors'),
      '--fp16-copy',
      f16,
      f16as32,
    ]);
    const fromHalf = createUNet(CONFIGS.conv_proj as never, 1);
    fromHalf.loadWeights(f16);
    const rounded = readSafetensors(f16as32).tensors;
    for (const p of fromHalf.paramInfo())
      expect(Array.from(fromHalf.getParam(p.name).data)).toEqual(Array.from(rounded[p.name].data));
    const resaved = path.join(dir, 'resaved.safetensors');
    fromHalf.saveWeights(resaved);
    const header = fs.readFileSync(resaved).subarray(8, 200).toString();
    expect(header).toContain('"dtype":"F32"');
  });

  test('weights that do not match the config are refused with the names', () => {
    const dir = tmpDir('mismatch');
    const w = path.join(dir, 'w.safetensors');
    createUNet(CONFIGS.conv_proj as never, 0).saveWeights(w);
    const other = createUNet(CONFIGS.linear_proj as never, 0);
    expect(() => other.loadWeights(w)).toThrow(
      /w\.safetensors: weights do not match the model config: missing .*unexpected/,
    );
  });

  test('the CLI reports a missing input tensor by file and name', () => {
    const dir = tmpDir('cli');
    const inp = path.join(dir, 'in.safetensors');
    writeSafetensors(inp, { sample: { data: new Float32Array(16 * 16), shape: [1, 1, 16, 16] } });
    const cfg = path.join(dir, 'c.json');
    fs.writeFileSync(cfg, JSON.stringify(CONFIGS.conv_proj));
    const r = runCli([
      'unet',
      'check',
      '--config',
      cfg,
      '--input',
      inp,
      '--out',
      path.join(dir, 'o.safetensors'),
      '--save-weights',
      path.join(dir, 'w.safetensors'),
    ]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${inp}: no tensor named "encoder_hidden_states"`);
  });
});
