// The config types live in src/config/types.ts, below every layer (nn and models use them too); this path remains for compatibility.
export * from '../config/types.js';
