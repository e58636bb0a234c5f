import busboy from 'busboy';
import type { Request } from 'express';
import { PassThrough, Readable, Transform, TransformCallback } from 'node:stream';
import { DomainError, ErrorCode } from '../common/domain-error';
import { multipartFieldProblem } from '../common/input-guard';

/** Keeps the first `keepBytes` that stream through (a file's magic bytes), and passes everything on. */
export class HeadKeepingStream extends Transform {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  constructor(private readonly keepBytes: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    if (this.kept < this.keepBytes) {
      const part = chunk.subarray(0, Math.min(chunk.length, this.keepBytes - this.kept));
      this.chunks.push(part);
      this.kept += part.length;
    }
    callback(null, chunk);
  }
  head(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export interface ReceivedUpload<T> {
  fields: Record<string, string>;
  file: { field: string; filename: string; stored: T; head: Buffer } | null;
}

const MAX_FIELD_BYTES = 64 * 1024;
/** Only the head of the file stays in memory (magic bytes); the rest streams through. */
const HEAD_BYTES = 512;

const malformed = (message: string): DomainError => new DomainError(ErrorCode.ValidationFailed, `malformed multipart request: ${message}`, [{ field: 'body', problem: 'malformed multipart' }]);
const aborted = (): DomainError => new DomainError(ErrorCode.ValidationFailed, 'upload aborted by the client before the body was complete', [{ field: 'body', problem: 'aborted' }]);

/**
 * Streams a multipart request: the one file part goes straight to `store` (bounded memory, never buffered whole),
 * the text fields are collected. Anything unexpected is a 4xx naming the field. Every stream on the way has an
 * error handler: a truncated body, a malformed part or a client that hangs up fails this request only (an unhandled
 * 'error' event would end the process). The promise settles once, after `store` has settled.
 */
export function receiveMultipart<T>(
  req: Request,
  opts: {
    fileField: string;
    maxFileBytes: number;
    store: (stream: Readable) => Promise<T>;
    /** Runs with the text fields sent before the file, before a byte of it is stored; a throw refuses the upload. */
    beforeFile?: (fields: Readonly<Record<string, string>>) => Promise<void>;
  },
): Promise<ReceivedUpload<T>> {
  const type = req.headers['content-type'] ?? '';
  if (!type.toLowerCase().startsWith('multipart/form-data')) {
    return Promise.reject(new DomainError(ErrorCode.UnsupportedMedia, `expected multipart/form-data, got '${type || 'no content-type'}'`, [{ field: 'Content-Type', problem: 'must be multipart/form-data' }]));
  }
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { fields: 20, fieldSize: MAX_FIELD_BYTES, files: 1, fileSize: opts.maxFileBytes + 1, parts: 25 } });
    } catch (error) {
      reject(malformed((error as Error).message));
      return;
    }
    const fields: Record<string, string> = {};
    let file: ReceivedUpload<T>['file'] = null;
    let pending: Promise<void> | null = null;
    let failure: unknown = null;
    let settled = false;
    /** The stream handed to `store`; ended with an error whenever the request fails mid-file. */
    let body: PassThrough | null = null;
    const fail = (error: unknown): void => {
      failure ??= error;
      // Whatever is mid-flight to the store stops now, so `store` settles (and removes what it wrote).
      if (body && !body.writableEnded) body.destroy(error instanceof Error ? error : new Error(String(error)));
    };
    const settle = async (): Promise<void> => {
      if (settled) return;
      settled = true;
      if (pending) await pending;
      if (failure) reject(failure);
      else resolve({ fields, file });
    };

    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) fail(new DomainError(ErrorCode.PayloadTooLarge, `field '${name}' is larger than ${MAX_FIELD_BYTES} bytes`, [{ field: name, problem: 'too large' }]));
      const unsafe = multipartFieldProblem(name, value);
      if (unsafe) fail(new DomainError(ErrorCode.ValidationFailed, `${unsafe.field}: ${unsafe.problem}`, [unsafe]));
      fields[name] = value;
    });
    bb.on('file', (name, stream, info) => {
      // The body ended inside this file part (busboy fails the file stream first): name the part.
      stream.on('error', (error: Error) => fail(new DomainError(ErrorCode.ValidationFailed, `malformed multipart request: ${error.message} (inside the file part '${name}')`, [{ field: name, problem: 'incomplete: the body ended inside this part' }])));
      if (name !== opts.fileField || failure) {
        stream.resume();
        fail(failure ?? new DomainError(ErrorCode.ValidationFailed, `unexpected file field '${name}'; the file goes in '${opts.fileField}'`, [{ field: name, problem: 'unexpected file field' }]));
        return;
      }
      const head = new HeadKeepingStream(HEAD_BYTES);
      body = new PassThrough();
      const out = body;
      // Errors are reported through `fail`; these handlers only keep them from being unhandled.
      head.on('error', (error: Error) => fail(error));
      out.on('error', () => undefined);
      stream.on('limit', () => fail(new DomainError(ErrorCode.PayloadTooLarge, `${opts.fileField} exceeds the upload limit of ${opts.maxFileBytes} bytes`, [{ field: opts.fileField, problem: `larger than ${opts.maxFileBytes} bytes` }])));
      stream.pipe(head).pipe(out);
      // Nothing is stored until the fields before the file pass (benchmark, open phase, quota): an over-quota vendor
      // cannot fill the store with uploads that are refused at the end. Meanwhile backpressure holds the file part.
      pending = (opts.beforeFile ? opts.beforeFile({ ...fields }) : Promise.resolve()).then(() => opts.store(out)).then(
        (stored) => {
          if (!failure) file = { field: name, filename: info.filename ?? '', stored, head: head.head() };
        },
        (error: unknown) => {
          fail(error);
        },
      ).finally(() => {
        // Let busboy read past this part so the request can end and be answered.
        stream.unpipe(head);
        stream.resume();
      });
    });
    bb.on('filesLimit', () => fail(new DomainError(ErrorCode.ValidationFailed, 'only one file may be uploaded', [{ field: opts.fileField, problem: 'more than one file' }])));
    bb.on('partsLimit', () => fail(new DomainError(ErrorCode.ValidationFailed, 'too many multipart parts', [{ field: 'body', problem: 'too many parts' }])));
    bb.on('error', (error: Error) => {
      fail(malformed(error.message));
      req.unpipe(bb);
      // Drain what the client still sends so the answer can be written.
      req.resume();
      void settle();
    });
    bb.on('close', () => void settle());
    req.on('error', (error: Error) => {
      fail(malformed(error.message));
      void settle();
    });
    // A client that hangs up mid-body: busboy would wait for the rest forever.
    req.on('close', () => {
      if (req.complete) return;
      fail(aborted());
      req.unpipe(bb);
      bb.destroy();
      void settle();
    });
    req.pipe(bb);
  });
}
