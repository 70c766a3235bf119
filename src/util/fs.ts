/**
 * File helpers that never leave a half-written file behind: write to a temporary sibling, fsync,
 * then rename over the target (rename is atomic on one filesystem). Directories are published the
 * same way: build in `<dir>.tmp-<pid>`, then rename.
 */
import fs from 'node:fs';
import path from 'node:path';

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
