/**
 * A minimal GGUF v3 writer: metadata key-values and F32 tensors, little-endian.
 *
 * Layout, from the specification (ggml-org/ggml docs/gguf.md, "File Structure"):
 *
 *   header        magic "GGUF" · version u32 = 3 · tensor_count u64 · metadata_kv_count u64
 *   metadata      key (u64 length + UTF-8) · value_type u32 · value
 *                 (an array is: element type u32 · count u64 · elements)
 *   tensor infos  name (string) · n_dimensions u32 · dimensions u64[n] (ne0 first) · ggml_type u32 ·
 *                 offset u64 (relative to the start of the data section, a multiple of ALIGNMENT)
 *   padding       0x00 up to the next multiple of ALIGNMENT (`general.alignment`, default 32)
 *   tensor data   each tensor at its offset, the gap between tensors padded to ALIGNMENT
 *
 * Tensor data is produced chunk by chunk (`fill`), so a 100 MB model never sits in memory whole.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

/** gguf_metadata_value_type (docs/gguf.md). */
export const GgufType = Object.freeze({
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9,
  UINT64: 10, INT64: 11, FLOAT64: 12,
});

/** ggml_type of an F32 tensor (docs/gguf.md). */
export const GGML_TYPE_F32 = 0;

const GGUF_MAGIC = Buffer.from('GGUF', 'latin1');
const GGUF_VERSION = 3;
export const DEFAULT_ALIGNMENT = 32;

/** A growable little-endian byte builder for the header, metadata and tensor infos. */
function createByteBuilder() {
  let buf = Buffer.alloc(1 << 16);
  let len = 0;
  const room = (n) => {
    if (len + n <= buf.length) return;
    const next = Buffer.alloc(Math.max(buf.length * 2, len + n));
    buf.copy(next, 0, 0, len);
    buf = next;
  };
  return {
    u8(v) { room(1); buf.writeUInt8(v, len); len += 1; },
    i8(v) { room(1); buf.writeInt8(v, len); len += 1; },
    u16(v) { room(2); buf.writeUInt16LE(v, len); len += 2; },
    i16(v) { room(2); buf.writeInt16LE(v, len); len += 2; },
    u32(v) { room(4); buf.writeUInt32LE(v, len); len += 4; },
    i32(v) { room(4); buf.writeInt32LE(v, len); len += 4; },
    f32(v) { room(4); buf.writeFloatLE(v, len); len += 4; },
    f64(v) { room(8); buf.writeDoubleLE(v, len); len += 8; },
    u64(v) { room(8); buf.writeBigUInt64LE(BigInt(v), len); len += 8; },
    i64(v) { room(8); buf.writeBigInt64LE(BigInt(v), len); len += 8; },
    bytes(b) { room(b.length); b.copy(buf, len); len += b.length; },
    string(s) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.bytes(b); },
    get length() { return len; },
    result() { return buf.subarray(0, len); },
  };
}

function writeScalar(out, type, value) {
  switch (type) {
    case GgufType.UINT8: return out.u8(value);
    case GgufType.INT8: return out.i8(value);
    case GgufType.UINT16: return out.u16(value);
    case GgufType.INT16: return out.i16(value);
    case GgufType.UINT32: return out.u32(value);
    case GgufType.INT32: return out.i32(value);
    case GgufType.FLOAT32: return out.f32(value);
    case GgufType.BOOL: return out.u8(value ? 1 : 0);
    case GgufType.STRING: return out.string(value);
    case GgufType.UINT64: return out.u64(value);
    case GgufType.INT64: return out.i64(value);
    case GgufType.FLOAT64: return out.f64(value);
    default: throw new Error(`gguf: unsupported scalar type ${type}`);
  }
}

const alignUp = (n, alignment) => n + ((alignment - (n % alignment)) % alignment);

/**
 * @typedef {{ key: string, type: number, value: unknown, elementType?: number }} GgufKv
 *   `type` GgufType.ARRAY takes `elementType` and an array `value`.
 * @typedef {{ name: string, dims: number[], fill: (chunk: Float32Array, firstIndex: number) => void }} GgufF32Tensor
 *   `dims` in ggml order (ne0 first); `fill` writes elements [firstIndex, firstIndex + chunk.length).
 */

/**
 * Writes a GGUF file atomically: to a temporary name beside `path`, then renamed, so that a reader (or a
 * concurrent writer of the same deterministic file) never sees a half-written model.
 * @param {string} path
 * @param {{ metadata: GgufKv[], tensors: GgufF32Tensor[], alignment?: number, chunkElements?: number }} spec
 * @returns {{ bytes: number }}
 */
export function writeGguf(path, { metadata, tensors, alignment = DEFAULT_ALIGNMENT, chunkElements = 1 << 20 }) {
  const head = createByteBuilder();
  head.bytes(GGUF_MAGIC);
  head.u32(GGUF_VERSION);
  head.u64(tensors.length);
  head.u64(metadata.length);
  for (const kv of metadata) {
    head.string(kv.key);
    head.u32(kv.type);
    if (kv.type === GgufType.ARRAY) {
      const values = /** @type {unknown[]} */ (kv.value);
      head.u32(kv.elementType);
      head.u64(values.length);
      for (const v of values) writeScalar(head, kv.elementType, v);
    } else {
      writeScalar(head, kv.type, kv.value);
    }
  }
  const sizes = tensors.map((t) => t.dims.reduce((a, b) => a * b, 1) * 4);
  let offset = 0;
  const offsets = [];
  for (let i = 0; i < tensors.length; i++) {
    offsets.push(offset);
    offset = alignUp(offset + sizes[i], alignment);
  }
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    head.string(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(GGML_TYPE_F32);
    head.u64(offsets[i]);
  }
  const headPadded = alignUp(head.length, alignment);

  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, head.result());
    writeSync(fd, Buffer.alloc(headPadded - head.length));
    let written = 0;
    const chunk = new Float32Array(chunkElements);
    const chunkBytes = new Uint8Array(chunk.buffer);
    for (let i = 0; i < tensors.length; i++) {
      const n = sizes[i] / 4;
      for (let first = 0; first < n; first += chunkElements) {
        const m = Math.min(chunkElements, n - first);
        const view = m === chunkElements ? chunk : chunk.subarray(0, m);
        tensors[i].fill(view, first);
        // Float32Array is in the platform's byte order; every platform Node ships on is little-endian.
        writeSync(fd, chunkBytes, 0, m * 4);
      }
      written += sizes[i];
      const pad = (i + 1 < tensors.length ? offsets[i + 1] : alignUp(written, alignment)) - written;
      if (pad > 0) writeSync(fd, Buffer.alloc(pad));
      written += pad;
    }
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
    return { bytes: headPadded + written };
  } catch (err) {
    try { closeSync(fd); } catch { /* already closed */ }
    rmSync(tmp, { force: true });
    throw err;
  }
}
