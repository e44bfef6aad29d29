/** A dense float32 tensor as it crosses the addon boundary: row-major data plus its shape. */
export interface TensorData {
  data: Float32Array;
  shape: number[];
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function tensor(data: Float32Array | number[], shape: number[]): TensorData {
  const d = data instanceof Float32Array ? data : Float32Array.from(data);
  if (d.length !== numel(shape)) {
    throw new RangeError(`tensor: ${d.length} values do not fill shape [${shape.join(',')}]`);
  }
  return { data: d, shape: [...shape] };
}

export function zeros(shape: number[]): TensorData {
  return { data: new Float32Array(numel(shape)), shape: [...shape] };
}

/** Float32Arrays joined end to end (batches of rows computed in chunks). */
export function concatFloat32(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
