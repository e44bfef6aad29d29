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

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
