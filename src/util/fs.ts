/**
 * File helpers that never leave a half-written file behind: write to a temporary sibling, fsync,
 * then rename over the target (rename is atomic on one filesystem). Directories are published the
 * same way: build in `<dir>.tmp-<pid>`, then rename.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { UserError } from './errors.ts';

export function ensureDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
}

/** Atomically write `data` to `file` (parent directories are created). */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  ensureDir(path.dirname(file));
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** Atomically write pretty-printed JSON. */
export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/** Read JSON, or return `fallback` when the file does not exist. Corrupt JSON throws with the path. */
export function readJsonIfExists<T>(file: string, fallback: T): T {
  if (!fs.existsSync(file)) return fallback;
  const text = fs.readFileSync(file, 'utf8');
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${(e as Error).message}); delete it to start over`);
  }
}

/** sha256 (hex) of a file, read in 16 MiB chunks (a model file is never held in memory whole). */
export function sha256File(file: string): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(16 << 20);
    let n: number;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** Read a JSON file, or null when it does not exist; invalid JSON is a UserError naming the file. */
export function readJsonObject(file: string): Record<string, unknown> | null {
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Build a directory atomically: `fill(tmpDir)` writes into a temporary sibling, which is renamed
 * to `dir` only when fill succeeds. An existing `dir` is replaced. On failure nothing is left.
 */
export async function publishDirAtomic(dir: string, fill: (tmpDir: string) => Promise<void> | void): Promise<void> {
  ensureDir(path.dirname(dir));
  const tmp = `${dir}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  fs.mkdirSync(tmp);
  try {
    await fill(tmp);
    if (fs.existsSync(dir)) {
      const old = `${dir}.old-${process.pid}`;
      fs.renameSync(dir, old);
      fs.renameSync(tmp, dir);
      fs.rmSync(old, { recursive: true, force: true });
    } else {
      fs.renameSync(tmp, dir);
    }
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Write all of `parts` at fd's position with writev (a short write is finished); returns the bytes written. */
export function writevAllSync(fd: number, parts: Uint8Array[]): number {
  let total = 0;
  for (const p of parts) total += p.byteLength;
  let done = fs.writevSync(fd, parts);
  while (done < total) {
    let skip = done;
    const rest: Uint8Array[] = [];
    for (const p of parts) {
      if (skip >= p.byteLength) skip -= p.byteLength;
      else {
        rest.push(p.subarray(skip));
        skip = 0;
      }
    }
    done += fs.writevSync(fd, rest);
  }
  return total;
}

/**
 * Check, before any work, that `dir` can be made and written: it is a folder or can be created
 * (no file in the way at it or at any ancestor), and the nearest existing folder accepts a file (a
 * probe file is written and removed). Nothing is created. A problem is a UserError naming `what`
 * (e.g. '--out'), the path and the cause, never a stack trace after the computation.
 */
export function checkWritableDir(dir: string, what = 'output folder'): void {
  const abs = path.resolve(dir);
  let cur = abs;
  let st: fs.Stats | null = null;
  for (;;) {
    try {
      st = fs.statSync(cur);
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new UserError(`${what} ${dir}: cannot check ${cur} (${code ?? (e as Error).message})`);
      const up = path.dirname(cur);
      if (up === cur) throw new UserError(`${what} ${dir}: no existing folder above it`);
      cur = up;
    }
  }
  if (!st.isDirectory()) {
    throw new UserError(
      cur === abs
        ? `${what} ${dir} exists and is not a folder (a file is in the way)`
        : `${what} ${dir} cannot be created: ${cur} is a file, not a folder`,
    );
  }
  const probe = path.join(cur, `.unlearnkit-write-check-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  try {
    fs.writeFileSync(probe, '');
  } catch (e) {
    throw new UserError(`${what} ${dir}: cannot write in ${cur} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  fs.rmSync(probe, { force: true });
}

/** Whether process `pid` is alive (signal 0; EPERM means it exists but is not ours). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Names of the temporaries the atomic writers leave when killed: `<name>.tmp-<pid>-<rand>`, `<name>.old-<pid>`. */
const STALE_RE = /\.(?:tmp|old)-(\d+)(?:-[a-z0-9]+)?$/;

/**
 * Remove, in `dir`, the temporaries of writeFileAtomic / publishDirAtomic left by processes that
 * are gone (killed mid-write). Those of live processes (another run writing now) are kept. Returns
 * the names removed.
 */
export function cleanStaleTemps(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const n of names) {
    const m = STALE_RE.exec(n);
    if (!m || processAlive(Number(m[1]))) continue;
    try {
      fs.rmSync(path.join(dir, n), { recursive: true, force: true });
      removed.push(n);
    } catch {
      /* not ours to remove: leave it */
    }
  }
  return removed;
}
