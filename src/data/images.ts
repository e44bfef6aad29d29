/**
 * The image pipeline: JPEG decode (sharp), one channel, shorter side resized to the model size and
 * centre-cropped, scaled to [-1, 1]. Preprocessed pixels are cached on disk under a key derived
 * from every setting that changes them, so later epochs do not decode JPEGs again; a cached copy
 * older than its source file is decoded afresh. A missing or
 * corrupt image is counted and skipped (or fatal with strict); the file is named either way.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { Rng } from '../util/random';
import { UserError } from '../util/errors';
import type { MimicRecord, Problem } from './mimic';

export interface ImageSettings {
  size: number;
}

const PIPELINE_VERSION = 1;

/** Changes whenever a setting that affects the cached pixels changes. */
export function cacheKey(s: ImageSettings): string {
  const desc = { v: PIPELINE_VERSION, size: s.size, channels: 1, resize: 'shorter-side lanczos3', crop: 'centre', bits: 8 };
  return crypto.createHash('sha256').update(JSON.stringify(desc)).digest('hex').slice(0, 16);
}

export class ImageLoader {
  readonly problems: Problem[] = [];
  decoded = 0;
  cacheHits = 0;
  private readonly dir: string | null;

  constructor(readonly settings: ImageSettings, cacheRoot: string | null, private readonly strict = false) {
    if (!Number.isInteger(settings.size) || settings.size < 8) throw new UserError(`image size must be an integer >= 8, got ${settings.size}`);
    this.dir = cacheRoot ? path.join(cacheRoot, cacheKey(settings)) : null;
    if (this.dir) {
      fs.mkdirSync(this.dir, { recursive: true });
      const meta = path.join(this.dir, 'settings.json');
      if (!fs.existsSync(meta)) fs.writeFileSync(meta, JSON.stringify({ ...settings, version: PIPELINE_VERSION }) + '\n');
    }
  }

  /** size*size grayscale bytes, or null when the image could not be read (counted in problems). */
  async load(rec: Pick<MimicRecord, 'dicomId' | 'imageFile'>): Promise<Uint8Array | null> {
    const S = this.settings.size;
    const cached = this.dir ? path.join(this.dir, `${rec.dicomId}.u8`) : null;
    if (cached) {
      try {
        // A cached copy older than its source image is stale (the dataset was rewritten in place).
        const [c, src] = await Promise.all([fs.promises.stat(cached), fs.promises.stat(rec.imageFile)]);
        const buf = c.mtimeMs >= src.mtimeMs ? await fs.promises.readFile(cached) : null;
        if (buf && buf.length === S * S) {
          this.cacheHits++;
          return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
        }
      } catch {
        /* not cached yet */
      }
    }
    let pixels: Uint8Array;
    try {
      const { data, info } = await sharp(rec.imageFile, { failOn: 'truncated' })
        .greyscale()
        .resize(S, S, { fit: 'cover', position: 'centre', kernel: 'lanczos3' })
        .raw()
        .toBuffer({ resolveWithObject: true });
      pixels = new Uint8Array(S * S);
      for (let i = 0; i < S * S; i++) pixels[i] = data[i * info.channels];
    } catch (e) {
      const msg = fs.existsSync(rec.imageFile) ? `corrupt image (${(e as Error).message.split('\n')[0]})` : 'missing image';
      if (this.strict) throw new UserError(`${rec.imageFile}: ${msg}`);
      this.problems.push({ file: rec.imageFile, message: msg });
      return null;
    }
    this.decoded++;
    if (cached) {
      const tmp = `${cached}.${process.pid}.tmp`;
      await fs.promises.writeFile(tmp, pixels);
      await fs.promises.rename(tmp, cached);
    }
    return pixels;
  }
}

/** Bytes [0, 255] to the model's [-1, 1], written at out[offset..]. */
export function toModelRange(pixels: Uint8Array, out: Float32Array, offset = 0): void {
  for (let i = 0; i < pixels.length; i++) out[offset + i] = pixels[i] / 127.5 - 1;
}

export interface Batch {
  /** [B, 1, S, S] in [-1, 1] */
  images: Float32Array;
  records: MimicRecord[];
}

/**
 * Shuffled batches for one epoch (order from seed and epoch, so a resumed run sees the same
 * order). Unreadable images are skipped and the batch is filled from the next records.
 */
export async function* batches(records: MimicRecord[], loader: ImageLoader, o: { batchSize: number; seed: number; epoch: number; shuffle?: boolean; dropLast?: boolean; startBatch?: number }): AsyncGenerator<Batch> {
  const order = records.map((_, i) => i);
  if (o.shuffle !== false) new Rng((o.seed ^ Math.imul(o.epoch + 1, 0x9e3779b1)) >>> 0).shuffle(order);
  const S = loader.settings.size;
  let pos = 0, emitted = 0;
  while (pos < order.length) {
    const got: { rec: MimicRecord; px: Uint8Array }[] = [];
    while (got.length < o.batchSize && pos < order.length) {
      const take = order.slice(pos, pos + (o.batchSize - got.length)).map((i) => records[i]);
      pos += take.length;
      const loaded = await Promise.all(take.map((r) => loader.load(r)));
      loaded.forEach((px, k) => { if (px) got.push({ rec: take[k], px }); });
    }
    if (got.length === 0 || (o.dropLast && got.length < o.batchSize)) break;
    if (emitted++ < (o.startBatch ?? 0)) continue;
    const images = new Float32Array(got.length * S * S);
    got.forEach((g, k) => toModelRange(g.px, images, k * S * S));
    yield { images, records: got.map((g) => g.rec) };
  }
}
