/**
 * A small ONNX graph writer on onnx-proto's protobuf classes: inputs, outputs, float/int64
 * initializers (stored as raw little-endian bytes) and nodes with typed attributes. Used to export
 * the engine's trained reward models; ONNX Runtime then runs them frozen.
 */
import { onnx } from 'onnx-proto';

export const OPSET = 17;
const { DataType } = onnx.TensorProto;
const { AttributeType } = onnx.AttributeProto;

export type Dim = number | string;
export type Attr = { i: number } | { f: number } | { ints: number[] } | { s: string };

function valueInfo(name: string, elemType: number, dims: Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, a: Attr): onnx.IAttributeProto {
  if ('i' in a) return { name, type: AttributeType.INT, i: a.i };
  if ('f' in a) return { name, type: AttributeType.FLOAT, f: a.f };
  if ('ints' in a) return { name, type: AttributeType.INTS, ints: a.ints };
  return { name, type: AttributeType.STRING, s: Buffer.from(a.s, 'utf8') };
}

export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly inits: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private counter = 0;

  constructor(readonly name: string) {}

  input(name: string, type: 'float' | 'int64', dims: Dim[]): string {
    this.inputs.push(valueInfo(name, type === 'float' ? DataType.FLOAT : DataType.INT64, dims));
    return name;
  }

  output(name: string, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, DataType.FLOAT, dims));
  }

  /** A float32 initializer. */
  floats(name: string, data: Float32Array | number[], dims: number[]): string {
    const f = Float32Array.from(data);
    if (f.length !== dims.reduce((a, b) => a * b, 1))
      throw new Error(`initializer ${name}: ${f.length} values for dims [${dims}]`);
    this.inits.push({ name, dataType: DataType.FLOAT, dims, rawData: new Uint8Array(f.buffer) });
    return name;
  }

  /** An int64 initializer (shapes, axes). */
  int64s(name: string, data: number[]): string {
    const b = BigInt64Array.from(data, (v) => BigInt(v));
    this.inits.push({ name, dataType: DataType.INT64, dims: [data.length], rawData: new Uint8Array(b.buffer) });
    return name;
  }

  /** Adds a node; returns its output name (`out` names it, else a fresh one). */
  op(type: string, inputs: string[], attrs: Record<string, Attr> = {}, out?: string): string {
    const o = out ?? `${type.toLowerCase()}_${this.counter++}`;
    this.nodes.push({
      opType: type,
      input: inputs,
      output: [o],
      name: `${type}_${this.counter++}`,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return o;
  }

  /** The serialized ModelProto. */
  encode(docString = ''): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'cxrl-native',
      docString,
      graph: { name: this.name, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
