import busboy from 'busboy';
import type { Request } from 'express';
import { Readable, Transform, TransformCallback } from 'node:stream';
import { DomainError, ErrorCode } from '../common/domain-error';
import { multipartFieldProblem } from '../common/input-guard';

/** Keeps a copy of what streams through (bounded by the upload limit), for the static model check. */
export class CollectingStream extends Transform {
  readonly chunks: Buffer[] = [];
  private kept = 0;
  /** Bytes that streamed through (kept or not). */
  seen = 0;
  /** Keeps at most `keepBytes` (the rest only streams through). */
  constructor(private readonly keepBytes = Number.POSITIVE_INFINITY) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.seen += chunk.length;
    if (this.kept < this.keepBytes) {
      const part = chunk.subarray(0, Math.min(chunk.length, this.keepBytes - this.kept));
      this.chunks.push(part);
      this.kept += part.length;
    }
    callback(null, chunk);
  }
  buffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export interface ReceivedUpload<T> {
  fields: Record<string, string>;
  file: { field: string; filename: string; stored: T; collected: Buffer } | null;
}

const MAX_FIELD_BYTES = 64 * 1024;

/**
 * Streams a multipart request: the one file part goes straight to `store` (never buffered on disk by us), the text
 * fields are collected. Anything unexpected is a 4xx naming the field.
 */
export function receiveMultipart<T>(
  req: Request,
  opts: { fileField: string; maxFileBytes: number; collectBytes?: number; store: (stream: Readable) => Promise<T> },
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
      reject(new DomainError(ErrorCode.ValidationFailed, `malformed multipart request: ${(error as Error).message}`, [{ field: 'body', problem: 'malformed multipart' }]));
      return;
    }
    const fields: Record<string, string> = {};
    let file: ReceivedUpload<T>['file'] = null;
    let pending: Promise<void> | null = null;
    let fileStream: Readable | null = null;
    let failure: unknown = null;
    const fail = (error: unknown): void => {
      failure ??= error;
    };
    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) fail(new DomainError(ErrorCode.PayloadTooLarge, `field '${name}' is larger than ${MAX_FIELD_BYTES} bytes`, [{ field: name, problem: 'too large' }]));
      const unsafe = multipartFieldProblem(name, value);
      if (unsafe) fail(new DomainError(ErrorCode.ValidationFailed, `${unsafe.field}: ${unsafe.problem}`, [unsafe]));
      fields[name] = value;
    });
    bb.on('file', (name, stream, info) => {
      if (name !== opts.fileField) {
        // Drained, not stored; if the form breaks off inside it, busboy's own 'error' reports that.
        stream.on('error', () => undefined);
        stream.resume();
        fail(new DomainError(ErrorCode.ValidationFailed, `unexpected file field '${name}'; the model goes in '${opts.fileField}'`, [{ field: name, problem: 'unexpected file field' }]));
        return;
      }
      fileStream = stream;
      const collector = new CollectingStream(opts.collectBytes);
      // A body that ends inside the file part makes busboy fail the file stream: a 400, never an unhandled 'error'.
      // The collector is ended, not destroyed: the store may not listen yet, and its partial object is removed with
      // the staging key when the request is refused.
      stream.on('error', (error: Error) => {
        fail(new DomainError(ErrorCode.ValidationFailed, `malformed multipart request: ${error.message}`, [{ field: opts.fileField, problem: 'incomplete' }]));
        collector.end();
      });
      stream.pipe(collector);
      stream.on('limit', () => collector.destroy(new DomainError(ErrorCode.PayloadTooLarge, `${opts.fileField} exceeds the upload limit of ${opts.maxFileBytes} bytes`, [{ field: opts.fileField, problem: `larger than ${opts.maxFileBytes} bytes` }])));
      pending = opts.store(collector).then(
        (stored) => {
          file = { field: name, filename: info.filename ?? "", stored, collected: collector.buffer() };
        },
        (error: unknown) => {
          // Let busboy read past this part so the request can end and be answered.
          stream.unpipe(collector);
          stream.resume();
          // The object store refuses an empty streamed object; an empty file is the client's mistake.
          fail(collector.seen === 0 && !(error instanceof DomainError) ? new DomainError(ErrorCode.ValidationFailed, `${opts.fileField} is empty (0 bytes)`, [{ field: opts.fileField, problem: 'empty (0 bytes)' }]) : error);
        },
      );
    });
    bb.on('filesLimit', () => fail(new DomainError(ErrorCode.ValidationFailed, 'only one file may be uploaded', [{ field: opts.fileField, problem: 'more than one file' }])));
    bb.on('partsLimit', () => fail(new DomainError(ErrorCode.ValidationFailed, 'too many multipart parts', [{ field: 'body', problem: 'too many parts' }])));
    bb.on('error', (error: Error) => {
      fail(new DomainError(ErrorCode.ValidationFailed, `malformed multipart request: ${error.message}`, [{ field: 'body', problem: 'malformed multipart' }]));
      // busboy does not end the open file part when the form breaks off ("Unexpected end of form"): end it here,
      // or the store (and this request) would wait for it forever.
      fileStream?.destroy(error);
      void settle();
    });
    const settle = async (): Promise<void> => {
      if (pending) await pending;
      if (failure) reject(failure);
      else resolve({ fields, file });
    };
    bb.on('close', () => void settle());
    req.on('aborted', () => fail(new DomainError(ErrorCode.ValidationFailed, 'upload aborted by the client', [{ field: 'body', problem: 'aborted' }])));
    req.pipe(bb);
  });
}
