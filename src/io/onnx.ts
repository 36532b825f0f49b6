/**
 * The prunable weights of an ONNX model: the initialisers that feed Gemm, MatMul and Conv nodes,
 * returned in PyTorch layout (Linear [out, in], Conv [c_out, c_in, kh, kw]).
 *
 * Parsing uses `onnx-proto` (protobuf classes generated from onnx.proto, on protobufjs), so no
 * schema file is copied here.
 *
 * Layout rules (Y is the node's output, x its activation input):
 * - Gemm  Y = A B (+ C): B is [in, out] unless transB = 1, when it is [out, in] (what PyTorch's
 *   Linear exports). The weight is B, transposed to [out, in] when transB = 0.
 * - MatMul Y = x W: W is [in, out] and is transposed; MatMul Y = W x (the initialiser first) is
 *   already [out, in].
 * - Conv: W is [c_out, c_in / group, kh, kw] as is (1-D and 3-D convolutions keep their shape;
 *   the bi-adjacency is c_out x everything else).
 * Tensor data: raw_data (little-endian) or the typed fields (float_data, double_data, int32_data
 * holding float16/bfloat16 bits); FLOAT, DOUBLE, FLOAT16, BFLOAT16. Other types and external
 * data files are reported as not supported.
 */
import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { fileError } from '../errors.js';
import { cannotRead, checkRegularFile } from './reading.js';
import { halfBitsToNumber } from './safetensors.js';

const { onnx } = onnxProto;

export interface OnnxWeight {
  /** initialiser name (PyTorch keeps parameter names such as `fc1.weight` where it can) */
  name: string;
  kind: 'linear' | 'conv';
  /** PyTorch layout: [out, in] or [c_out, c_in, kh, kw] */
  shape: number[];
  data: Float32Array | Float64Array;
  /** the node type it feeds */
  op: 'Gemm' | 'MatMul' | 'Conv';
}

const DATA_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(onnx.TensorProto.DataType).map(([k, v]) => [v as number, k]),
) as Record<number, string>;

/** Reads the Linear and Conv weights of an ONNX model file. */
export function readOnnxWeights(path: string): OnnxWeight[] {
  checkRegularFile(path, 'an ONNX model file');
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw cannotRead(path, err);
  }
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw fileError(path, `not a valid ONNX model: the protobuf cannot be parsed (${(err as Error).message})`);
  }
  // Decoded messages are class instances whose repeated fields default to [], so the generated
  // interfaces' optional fields can be narrowed to the classes.
  type Graph = InstanceType<typeof onnx.GraphProto>;
  type Node = InstanceType<typeof onnx.NodeProto>;
  type Tensor = InstanceType<typeof onnx.TensorProto>;
  const graph = model.graph as Graph | null | undefined;
  if (!graph || (graph.node.length === 0 && graph.initializer.length === 0)) {
    throw fileError(path, 'not a valid ONNX model: it has no graph (no nodes and no initialisers)');
  }
  const initialisers = new Map<string, Tensor>();
  for (const t of graph.initializer as Tensor[]) initialisers.set(t.name, t);

  const out: OnnxWeight[] = [];
  const seen = new Set<string>();
  for (const node of graph.node as Node[]) {
    const op = node.opType;
    if (op !== 'Gemm' && op !== 'MatMul' && op !== 'Conv') continue;
    // Which input is the weight, and whether it must be transposed to [out, in].
    let weightName: string | undefined;
    let transpose = false;
    if (op === 'Gemm') {
      weightName = node.input[1];
      const transB = node.attribute.find((a) => a.name === 'transB');
      transpose = !(transB && Number(transB.i) === 1);
    } else if (op === 'MatMul') {
      if (initialisers.has(node.input[1])) {
        weightName = node.input[1];
        transpose = true;
      } else if (initialisers.has(node.input[0])) {
        weightName = node.input[0];
      }
    } else {
      weightName = node.input[1];
    }
    if (weightName === undefined || !initialisers.has(weightName) || seen.has(weightName)) continue;
    const tensor = initialisers.get(weightName)!;
    const dims = tensor.dims.map((d) => Number(d));
    // Conv weights of 3-5 dimensions (1-D to 3-D convolutions), as for safetensors (model.ts).
    if (op === 'Conv' ? dims.length < 3 : dims.length !== 2) continue;
    if (op === 'Conv' && dims.length > 5) {
      throw fileError(path, `Conv weight "${weightName}" has ${dims.length} dimensions; 1-D to 3-D convolutions (weights of 3 to 5 dimensions) are supported`);
    }
    seen.add(weightName);
    // Every check on the declared shape comes before the data is touched: a shape such as
    // [1e15, 0] holds nothing, yet transposing it would loop 1e15 times.
    const negative = dims.find((d) => !(d >= 0));
    if (negative !== undefined) throw fileError(path, `initialiser "${weightName}": dimension ${negative} of shape [${dims.join(', ')}] is negative`);
    const count = dims.reduce((a, b) => a * b, 1);
    if (count === 0) {
      throw fileError(path, `initialiser "${weightName}" has shape [${dims.join(', ')}], which holds no values; a layer needs at least one output and one input`);
    }
    const held = storedValues(tensor, path);
    if (held.count !== count) {
      throw fileError(path, `initialiser "${weightName}": shape [${dims.join(', ')}] needs ${count} values${held.bytes === null ? '' : ` (${count * held.width} bytes)`} but ${held.bytes === null ? `the tensor holds ${held.count}` : `raw_data holds ${held.bytes} bytes`}`);
    }
    let data = tensorData(tensor, path);
    let shape = dims;
    if (transpose) {
      data = transpose2d(data, dims[0], dims[1]);
      shape = [dims[1], dims[0]];
    }
    out.push({ name: weightName, kind: op === 'Conv' ? 'conv' : 'linear', shape, data, op });
  }
  return out;
}

/** [r, c] row-major -> [c, r] row-major. */
function transpose2d(a: Float32Array | Float64Array, r: number, c: number): Float32Array | Float64Array {
  const t = a instanceof Float32Array ? new Float32Array(a.length) : new Float64Array(a.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) t[j * r + i] = a[i * c + j];
  return t;
}

/** Bytes per value of the supported data types. */
const WIDTHS = new Map<number, number>([
  [onnx.TensorProto.DataType.FLOAT, 4],
  [onnx.TensorProto.DataType.DOUBLE, 8],
  [onnx.TensorProto.DataType.FLOAT16, 2],
  [onnx.TensorProto.DataType.BFLOAT16, 2],
]);

/**
 * How many values an initialiser stores (raw_data bytes / width, or the typed field's length),
 * without decoding them; bytes is raw_data's length (null for the typed fields).
 */
function storedValues(t: InstanceType<typeof onnx.TensorProto>, path: string): { count: number; bytes: number | null; width: number } {
  const width = WIDTHS.get(t.dataType);
  const external = t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData && t.externalData.length > 0);
  // tensorData throws the messages about external data and unsupported types
  if (width === undefined || external) return { count: tensorData(t, path).length, bytes: null, width: 0 };
  if (t.rawData && t.rawData.length > 0) return { count: t.rawData.length / width, bytes: t.rawData.length, width };
  const typed = t.dataType === onnx.TensorProto.DataType.FLOAT ? t.floatData : t.dataType === onnx.TensorProto.DataType.DOUBLE ? t.doubleData : t.int32Data;
  return { count: typed.length, bytes: null, width };
}

/** The values of a floating-point initialiser, widened to Float32 (FLOAT, FLOAT16, BFLOAT16) or Float64 (DOUBLE). */
function tensorData(t: InstanceType<typeof onnx.TensorProto>, path: string): Float32Array | Float64Array {
  const name = t.name;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData && t.externalData.length > 0)) {
    throw fileError(path, `initialiser "${name}" keeps its data in an external file: external data is not supported (save the model with all tensors inside the .onnx file)`);
  }
  const type = t.dataType;
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  const copy = (bytes: Uint8Array, width: number): ArrayBuffer => {
    if (bytes.length % width !== 0) throw fileError(path, `initialiser "${name}": raw_data of ${bytes.length} bytes is not a whole number of ${width}-byte values`);
    const c = new Uint8Array(bytes.length);
    c.set(bytes);
    return c.buffer;
  };
  switch (type) {
    case onnx.TensorProto.DataType.FLOAT:
      return raw ? new Float32Array(copy(raw, 4)) : Float32Array.from(t.floatData);
    case onnx.TensorProto.DataType.DOUBLE:
      return raw ? new Float64Array(copy(raw, 8)) : Float64Array.from(t.doubleData);
    case onnx.TensorProto.DataType.FLOAT16: {
      const bits = raw ? new Uint16Array(copy(raw, 2)) : Uint16Array.from(t.int32Data);
      return Float32Array.from(bits, halfBitsToNumber);
    }
    case onnx.TensorProto.DataType.BFLOAT16: {
      const bits = raw ? new Uint16Array(copy(raw, 2)) : Uint16Array.from(t.int32Data);
      const wide = Uint32Array.from(bits, (b) => b << 16);
      return new Float32Array(wide.buffer);
    }
    default:
      throw fileError(path, `initialiser "${name}" has data type ${DATA_TYPE_NAMES[type] ?? type}, which is not supported (FLOAT, DOUBLE, FLOAT16, BFLOAT16 are)`);
  }
}
