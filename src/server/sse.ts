/**
 * Server-sent events as OpenAI streams them: `data: <json>\n\n` per chunk, `data: [DONE]\n\n` at
 * the end. An error after the stream started is sent as a `data: {"error": ...}` event (what the
 * openai client raises), then the stream ends.
 */
import { PassThrough } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { ApiError } from './errors.ts';

export class SseWriter {
  readonly stream = new PassThrough();
  private ended = false;

  /** Start the event stream on `reply` (sends the headers). */
  constructor(reply: FastifyReply, extraHeaders: Record<string, string> = {}) {
    reply
      .code(200)
      .header('content-type', 'text/event-stream; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('x-accel-buffering', 'no')
      .headers(extraHeaders);
    void reply.send(this.stream);
  }

  send(obj: unknown): void {
    if (!this.ended) this.stream.write(`data: ${JSON.stringify(obj)}\n\n`);
  }

  done(): void {
    if (this.ended) return;
    this.stream.end('data: [DONE]\n\n');
    this.ended = true;
  }

  fail(e: ApiError): void {
    if (this.ended) return;
    this.stream.end(`data: ${JSON.stringify(e.toBody())}\n\n`);
    this.ended = true;
  }

  /** The client is gone: just stop. */
  abandon(): void {
    if (this.ended) return;
    this.ended = true;
    this.stream.end();
  }
}
