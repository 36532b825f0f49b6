// The generator lives in src/random/rng.ts, below every layer (data uses it too); this path remains for compatibility.
export * from '../random/rng.js';
