// Per-thread scratch memory. Every thread (the main one and each worker) instantiates this module
// on the same shared memory; globals are per instance, so each instance remembers its own scratch
// region, allocated by the host and handed over once with setThreadScratch.

/** Start (bytes) of this instance's scratch region. */
export let threadScratch: usize = 0;
/** Its size in bytes. */
export let threadScratchBytes: usize = 0;

export function setThreadScratch(base: usize, bytes: usize): void {
  threadScratch = base;
  threadScratchBytes = bytes;
}
