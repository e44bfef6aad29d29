/**
 * The engine's AutoencoderKL against an independent float64 PyTorch reference
 * (test/reference/vae_reference.py, written from diffusers' module structure): decode and encode
 * for two scaled-down configs with random weights in diffusers' key layout. Also: SD v1.x's
 * published VAE config builds exactly diffusers' key set, older attention names load, and config
 * keys the engine does not implement are refused by name.
 */
import * as fs from 'fs';
import * as path from 'path';
import { vaeCheck } from '../src/debug/vae-check';
import { createVae, createVaeFromFile, loadVaeWeights, vaeSettings } from '../src/engine/vae';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors';
import { Rng, testSeed } from '../src/util/random';
import { normRel, ROOT, runCli, runPython, tmpDir } from './helpers';

const SD_VAE_CONFIG = path.join(ROOT, 'test', 'reference', 'sd-v1-vae-config.json');

const CONFIGS: Record<string, Record<string, unknown>> = {
  // SD's layout scaled down: RGB, 4 latent channels, two layers per block, mid-block attention
  two_level: {
    _class_name: 'AutoencoderKL',
    in_channels: 3,
    out_channels: 3,
    latent_channels: 4,
    block_out_channels: [32, 64],
    down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D'],
    up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D'],
    layers_per_block: 2,
    norm_num_groups: 8,
    sample_size: 32,
  },
  // three levels, one gray channel, 2 latent channels, no mid attention, no post_quant_conv
  three_level_plain: {
    in_channels: 1,
    out_channels: 1,
    latent_channels: 2,
    block_out_channels: [16, 32, 32],
    down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'],
    up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
    layers_per_block: 1,
    norm_num_groups: 4,
    mid_block_add_attention: false,
    use_post_quant_conv: false,
    scaling_factor: 0.5,
    force_upcast: true,
  },
};

describe('VAE parity with a float64 PyTorch reference', () => {
  const seed = testSeed();
  beforeAll(() => console.log(`vae parity: seed ${seed} (CXRL_TEST_SEED to repeat)`));

  for (const [name, cfg] of Object.entries(CONFIGS)) {
    test(`${name}: decode and encode within 1e-4`, () => {
      const dir = tmpDir(`vae-${name}`);
      const rng = new Rng(seed ^ name.length);
      const boc = cfg.block_out_channels as number[];
      const f = 2 ** (boc.length - 1),
        lat = cfg.latent_channels as number,
        cin = cfg.in_channels as number;
      // 16x16 images; latents of 16/f pixels a side decode to the same size
      const B = 2,
        S = 16,
        h = S / f;
      const files = {
        config: path.join(dir, 'config.json'),
        weights: path.join(dir, 'w.safetensors'),
        legacy: path.join(dir, 'legacy.safetensors'),
        input: path.join(dir, 'in.safetensors'),
        ours: path.join(dir, 'ours.safetensors'),
        ref: path.join(dir, 'ref.safetensors'),
      };
      fs.writeFileSync(files.config, JSON.stringify(cfg));
      writeSafetensors(files.input, {
        latents: { data: rng.normals(B * lat * h * h), shape: [B, lat, h, h] },
        images: { data: rng.normals(B * cin * S * S).map((v) => Math.tanh(v)), shape: [B, cin, S, S] },
      });
      const r = vaeCheck({
        config: files.config,
        input: files.input,
        out: files.ours,
        saveWeights: files.weights,
        seed,
      });
      expect(r.outputs.sort()).toEqual(['latent_logvar', 'latent_mean', 'sample']);
      runPython('vae_reference.py', [
        files.config,
        files.weights,
        files.input,
        files.ref,
        '--legacy-names',
        files.legacy,
      ]);

      const ours = readSafetensors(files.ours),
        ref = readSafetensors(files.ref);
      const errors: string[] = [];
      let worst = 0;
      for (const key of ['sample', 'latent_mean', 'latent_logvar']) {
        expect(ours.tensors[key].shape).toEqual(ref.tensors[key].shape);
        const e = normRel(ours.tensors[key].data, ref.exact[key]);
        errors.push(`${key} ${ours.tensors[key].shape.join('x')} rel err ${e.toExponential(2)}`);
        worst = Math.max(worst, e);
      }
      console.log(`${name} (${r.params} parameters): ${errors.join('; ')}`);
      expect(ours.tensors.sample.shape).toEqual([B, cfg.out_channels, S, S]);
      expect(worst).toBeLessThan(1e-4);

      // Older diffusers files name the attention projections query/key/value/proj_attn.
      if (cfg.mid_block_add_attention !== false) {
        const legacyNames = Object.keys(readSafetensors(files.legacy).tensors);
        expect(legacyNames.some((k) => k.endsWith('.proj_attn.weight'))).toBe(true);
        const again = path.join(dir, 'again.safetensors');
        vaeCheck({ config: files.config, weights: files.legacy, input: files.input, out: again, seed: 0 });
        expect(Array.from(readSafetensors(again).tensors.sample.data)).toEqual(Array.from(ours.tensors.sample.data));
      }
    });
  }

  test("SD v1.x's published VAE config: diffusers' key set exactly (83,653,863 parameters)", () => {
    const dir = tmpDir('sd-vae-keys');
    const keysFile = path.join(dir, 'keys.json');
    runPython('vae_reference.py', ['--keys', SD_VAE_CONFIG, keysFile]);
    const diffusers = JSON.parse(fs.readFileSync(keysFile, 'utf8')) as Record<string, number[]>;
    const total = Object.values(diffusers).reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);
    expect(total).toBe(83_653_863);
    const vae = createVaeFromFile(SD_VAE_CONFIG);
    const engine = Object.fromEntries(vae.paramInfo().map((p) => [p.name, p.shape]));
    expect(engine).toEqual(diffusers);
    expect(vaeSettings(vae)).toEqual({
      latentChannels: 4,
      outChannels: 3,
      inChannels: 3,
      downscale: 8,
      scalingFactor: expect.closeTo(0.18215, 6),
    });
  });

  test('config keys the engine does not implement are refused by name; irrelevant ones are accepted', () => {
    const base = CONFIGS.two_level;
    const make = (extra: Record<string, unknown>) => () =>
      createVae(JSON.stringify({ ...base, ...extra }), 0, 'vae.json');
    expect(make({ force_upcast: false, _name_or_path: 'x' })).not.toThrow();
    expect(make({ act_fn: 'gelu' })).toThrow(/vae.json: .*"act_fn" = "gelu" is not supported/);
    expect(make({ shift_factor: 0.1 })).toThrow(/"shift_factor" = 0.1 is not supported/);
    expect(make({ latents_mean: [0, 0, 0, 0] })).toThrow(/"latents_mean"/);
    expect(make({ upcast_vae: true })).toThrow(/"upcast_vae" is not a AutoencoderKL config key this engine knows/);
    expect(make({ down_block_types: ['DownBlock2D', 'DownEncoderBlock2D'] })).toThrow(/DownBlock2D is not supported/);
    expect(make({ norm_num_groups: 5 })).toThrow(/norm_num_groups/);
  });

  test('weights of another config are refused with the names; wrong latent shapes name the expected form', () => {
    const dir = tmpDir('vae-mismatch');
    const w = path.join(dir, 'w.safetensors');
    createVae(JSON.stringify(CONFIGS.two_level)).saveWeights(w);
    const other = createVae(JSON.stringify(CONFIGS.three_level_plain));
    expect(() => loadVaeWeights(other, w)).toThrow(/weights do not match the model config: missing .*unexpected/);
    const vae = createVae(JSON.stringify(CONFIGS.two_level));
    expect(() => vae.decode({ data: new Float32Array(2 * 8 * 8), shape: [1, 2, 8, 8] })).toThrow(
      /latents must be \[B,4,h,w\]/,
    );
  });

  test('cxrl-native vae check: --help, and a clear error without weights', () => {
    const help = runCli(['vae', 'check', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('post_quant_conv');
    const dir = tmpDir('vae-cli');
    const input = path.join(dir, 'in.safetensors');
    writeSafetensors(input, { latents: { data: new Float32Array(4 * 4 * 4), shape: [1, 4, 4, 4] } });
    const cfg = path.join(dir, 'c.json');
    fs.writeFileSync(cfg, JSON.stringify(CONFIGS.two_level));
    const r = runCli(['vae', 'check', '--config', cfg, '--input', input, '--out', path.join(dir, 'o.safetensors')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/without --weights, give --save-weights FILE/);
    const ok = runCli([
      'vae',
      'check',
      '--config',
      cfg,
      '--input',
      input,
      '--out',
      path.join(dir, 'o.safetensors'),
      '--save-weights',
      path.join(dir, 'w.safetensors'),
    ]);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toMatch(/vae check: \d+ parameters; wrote sample to/);
    expect(readSafetensors(path.join(dir, 'o.safetensors')).tensors.sample.shape).toEqual([1, 3, 8, 8]);
  });
});
