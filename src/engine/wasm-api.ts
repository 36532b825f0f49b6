/**
 * The few WebAssembly JavaScript API types the engine uses. The project compiles with lib ES2022
 * and no DOM types, where the global `WebAssembly` has no declarations, so they are declared here
 * (locally, not as globals, to stay out of other modules' way).
 */

export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}

/** A compiled module (opaque; can be posted to worker threads). */
export interface WasmModule {
  readonly __wasmModule?: never;
}

export interface WasmGlobal {
  value: number;
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => WasmInstance;
}

export const WebAssemblyApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
