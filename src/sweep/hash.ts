/**
 * Content hashes for the sweep's keys and store: sha256 of files (streamed), of canonical JSON
 * (object keys sorted at every level, so the same settings always give the same key), and the
 * package version that goes into every job key (a new unlearnkit version never reuses old results).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';

export const HEX64 = /^[0-9a-f]{64}$/;

export function sha256(data: string | Uint8Array): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

export { sha256File } from '../util/fs.ts';

/** JSON with object keys sorted at every level (arrays keep their order); undefined fields are left out. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`canonicalJson: ${v} has no JSON form`);
    return JSON.stringify(v) ?? 'null';
  }
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

let version: string | null = null;

/** The unlearnkit version (package.json beside src/ or dist/). */
export function unlearnkitVersion(): string {
  version ??= (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return version;
}
