/**
 * The engine's memory: one shared WebAssembly.Memory, handed out by a host-side allocator.
 *
 * Why the host allocates: every thread instantiates the wasm module on the same memory, and each
 * instance would have its own allocator globals, so the module has no allocator at all
 * (ENGINE-NOTES.md). Blocks are 64-byte aligned (one cache line, and aligned for SIMD loads).
 *
 * The free list is kept sorted by offset and neighbours are merged on free, so a training loop that
 * allocates and frees the same shapes over and over reuses the same bytes: memory stays flat.
 * The memory only grows (WebAssembly cannot shrink); views made before a growth stay valid because
 * shared memory is never detached.
 */

import { WebAssemblyApi, type WasmMemory } from './wasm-api.js';

const PAGE = 65536;
const ALIGN = 64;
/** Bytes below this offset hold the module's static data (math tables); never handed out. */
export const RESERVED_BYTES = PAGE;
/** Where each memory keeps its tag word (inside the reserved bytes, after the static data). */
const TAG_OFFSET = RESERVED_BYTES - 64;
/** Tags of memories made by this process (a random start so other processes' tags differ too). */
let nextTag = (Math.random() * 0x7fffffff) | 0;
/** 65536 pages = 4 GiB, the wasm32 limit. */
export const MAX_PAGES = 65536;

interface Block {
  offset: number;
  size: number;
}

export class EngineMemory {
  readonly memory: WasmMemory;
  /** start of the never-allocated region */
  private top = RESERVED_BYTES;
  /** free blocks below `top`, sorted by offset, never adjacent (merged) */
  private readonly freeBlocks: Block[] = [];
  /** size of every live block by its offset */
  private readonly live = new Map<number, number>();
  /**
   * SharedArrayBuffer objects known to be this memory. V8 hands out several wrapper objects for the
   * same shared memory (after growth, and at other times), so identity alone cannot tell whether
   * a view belongs to this memory: an unknown buffer is checked by reading this memory's tag word.
   */
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  /** a value unique to this memory, stored at TAG_OFFSET */
  private readonly tag: number;

  constructor(initialBytes = 64 * PAGE) {
    this.memory = new WebAssemblyApi.Memory({
      initial: Math.ceil(initialBytes / PAGE),
      maximum: MAX_PAGES,
      shared: true,
    });
    this.tag = nextTag++;
    new Int32Array(this.memory.buffer, TAG_OFFSET, 1)[0] = this.tag;
    this.buffers.add(this.memory.buffer);
  }

  /** Bytes currently handed out (live blocks). */
  get liveBytes(): number {
    let sum = 0;
    for (const size of this.live.values()) sum += size;
    return sum;
  }

  /** Size of the wasm memory in bytes. */
  get capacityBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** Allocates `bytes` (rounded up to 64) and returns the offset; the bytes are zeroed. */
  allocate(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    let offset = this.takeFree(size);
    if (offset < 0) {
      offset = this.top;
      this.ensureCapacity(offset + size);
      this.top = offset + size;
    }
    this.live.set(offset, size);
    new Uint8Array(this.memory.buffer, offset, size).fill(0);
    return offset;
  }

  /** Returns a block to the free list (merging with free neighbours). */
  release(offset: number): void {
    const size = this.live.get(offset);
    if (size === undefined) {
      throw new Error(`engine memory: no live block starts at byte ${offset} (freed twice, or a subarray?)`);
    }
    this.live.delete(offset);
    // insert sorted, then merge with the previous and next blocks when they touch
    let i = 0;
    while (i < this.freeBlocks.length && this.freeBlocks[i].offset < offset) i++;
    this.freeBlocks.splice(i, 0, { offset, size });
    if (i + 1 < this.freeBlocks.length && offset + size === this.freeBlocks[i + 1].offset) {
      this.freeBlocks[i].size += this.freeBlocks[i + 1].size;
      this.freeBlocks.splice(i + 1, 1);
    }
    if (i > 0 && this.freeBlocks[i - 1].offset + this.freeBlocks[i - 1].size === offset) {
      this.freeBlocks[i - 1].size += this.freeBlocks[i].size;
      this.freeBlocks.splice(i, 1);
      i--;
    }
    // a free block that reaches the top gives its bytes back to the never-allocated region
    const last = this.freeBlocks[this.freeBlocks.length - 1];
    if (last.offset + last.size === this.top) {
      this.top = last.offset;
      this.freeBlocks.pop();
    }
  }

  /** True when `array` is a view into this memory (any of its buffers). */
  owns(array: ArrayBufferView): boolean {
    const buffer = array.buffer;
    if (this.buffers.has(buffer)) return true;
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < RESERVED_BYTES) return false;
    if (new Int32Array(buffer, TAG_OFFSET, 1)[0] !== this.tag) return false;
    this.buffers.add(buffer);
    return true;
  }

  float32(offset: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, offset, length);
  }

  int32(offset: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, offset, length);
  }

  /** Best fit from the free list, splitting the block; -1 when none is large enough. */
  private takeFree(size: number): number {
    let best = -1;
    for (let i = 0; i < this.freeBlocks.length; i++) {
      const block = this.freeBlocks[i];
      if (block.size >= size && (best < 0 || block.size < this.freeBlocks[best].size)) {
        best = i;
        if (block.size === size) break;
      }
    }
    if (best < 0) return -1;
    const block = this.freeBlocks[best];
    const offset = block.offset;
    if (block.size === size) this.freeBlocks.splice(best, 1);
    else {
      block.offset += size;
      block.size -= size;
    }
    return offset;
  }

  private ensureCapacity(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    // grow by at least 1/8 of the current size so that a growing model does not grow page by page
    const needPages = Math.ceil((end - have) / PAGE);
    const pages = Math.max(needPages, Math.ceil(have / PAGE / 8));
    const current = have / PAGE;
    const allowed = Math.min(pages, MAX_PAGES - current);
    if (allowed < needPages) {
      throw new RangeError(`engine memory: ${end} bytes exceed the 4 GiB WebAssembly limit`);
    }
    this.memory.grow(allowed);
    this.buffers.add(this.memory.buffer);
  }
}
