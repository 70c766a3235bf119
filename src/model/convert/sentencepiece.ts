/**
 * Minimal reader of a SentencePiece `tokenizer.model` (a protobuf `ModelProto`): the pieces with
 * their scores and types, which is all llama.cpp's converter takes from it
 * (`_create_vocab_sentencepiece`).
 *
 *   ModelProto    { repeated SentencePiece pieces = 1; ... }
 *   SentencePiece { string piece = 1; float score = 2; Type type = 3 [default = NORMAL]; }
 *   Type: NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6 (the same numbers as
 *   llama.cpp's token types).
 *
 * Protobuf wire format: each field is a varint key (field << 3 | wire type); wire types 0 varint,
 * 1 fixed64, 2 length-delimited, 5 fixed32.
 */
import fs from 'node:fs';
import { UserError } from '../../util/errors.ts';

export interface SentencePiece {
  piece: string;
  score: number;
  type: number;
}

class Pb {
  pos = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly file: string,
    readonly end = buf.length,
  ) {}
  varint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new UserError(`${this.file}: truncated or corrupt SentencePiece model (varint past the end)`);
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return v;
      mul *= 128;
    }
    throw new UserError(`${this.file}: corrupt SentencePiece model (varint too long)`);
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.pos += this.varint();
    else if (wire === 5) this.pos += 4;
    else throw new UserError(`${this.file}: corrupt SentencePiece model (unsupported protobuf wire type ${wire})`);
    if (this.pos > this.end) throw new UserError(`${this.file}: truncated or corrupt SentencePiece model`);
  }
}

const dec = new TextDecoder('utf-8', { fatal: false });

export function readSentencePieceModel(file: string): SentencePiece[] {
  const buf = new Uint8Array(fs.readFileSync(file));
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const top = new Pb(buf, file);
  const pieces: SentencePiece[] = [];
  while (top.pos < top.end) {
    const key = top.varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (field !== 1 || wire !== 2) {
      top.skip(wire);
      continue;
    }
    const len = top.varint();
    const end = top.pos + len;
    if (end > top.end) throw new UserError(`${file}: truncated or corrupt SentencePiece model (piece ${pieces.length} past the end)`);
    const p = new Pb(buf, file, end);
    p.pos = top.pos;
    const sp: SentencePiece = { piece: '', score: 0, type: 1 };
    while (p.pos < end) {
      const k = p.varint();
      const f = Math.floor(k / 8);
      const w = k & 7;
      if (f === 1 && w === 2) {
        const n = p.varint();
        if (p.pos + n > end) throw new UserError(`${file}: corrupt SentencePiece model (piece text past its record)`);
        sp.piece = dec.decode(buf.subarray(p.pos, p.pos + n));
        p.pos += n;
      } else if (f === 2 && w === 5) {
        if (p.pos + 4 > end) throw new UserError(`${file}: corrupt SentencePiece model (score past its record)`);
        sp.score = dv.getFloat32(p.pos, true);
        p.pos += 4;
      } else if (f === 3 && w === 0) sp.type = p.varint();
      else p.skip(w);
    }
    pieces.push(sp);
    top.pos = end;
  }
  if (pieces.length === 0) throw new UserError(`${file}: no pieces found; is this a SentencePiece tokenizer.model?`);
  return pieces;
}

/** Encode pieces as a ModelProto (only the pieces field); used by tests to write tokenizer.model files. */
export function writeSentencePieceModel(file: string, pieces: SentencePiece[]): void {
  const out: number[] = [];
  const varint = (arr: number[], v: number) => {
    while (v >= 0x80) {
      arr.push((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    arr.push(v);
  };
  const enc = new TextEncoder();
  const f32 = new DataView(new ArrayBuffer(4));
  for (const p of pieces) {
    const rec: number[] = [];
    const text = enc.encode(p.piece);
    varint(rec, (1 << 3) | 2);
    varint(rec, text.length);
    rec.push(...text);
    varint(rec, (2 << 3) | 5);
    f32.setFloat32(0, p.score, true);
    rec.push(f32.getUint8(0), f32.getUint8(1), f32.getUint8(2), f32.getUint8(3));
    varint(rec, (3 << 3) | 0);
    varint(rec, p.type);
    varint(out, (1 << 3) | 2);
    varint(out, rec.length);
    out.push(...rec);
  }
  fs.writeFileSync(file, Uint8Array.from(out));
}
