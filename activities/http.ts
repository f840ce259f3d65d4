// The outbound HTTP client activities use (undici), behind a small interface so each call has its own timeout.
import { request } from 'undici';

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT';
  url: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
}

export interface HttpResponse {
  status: number;
  body: string;
}

export type HttpClient = (req: HttpRequest) => Promise<HttpResponse>;

/** Response bodies past this are cut: a partner's answer is a status, not a download. */
export const MAX_BODY_BYTES = 64 * 1024;

export const undiciHttp: HttpClient = async ({ method, url, headers, body, timeoutMs }) => {
  const res = await request(url, {
    method,
    headers,
    body,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    signal: AbortSignal.timeout(timeoutMs),
  });
  // Bytes first, decoded once: decoding per chunk would split a multi-byte character at a chunk edge.
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    // Stop reading at the cap (leaving the loop destroys the stream): an endless answer costs 64 KB, not a timeout.
    if (size >= MAX_BODY_BYTES) break;
  }
  const bytes = Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES);
  // A character cut by the cap itself decodes to U+FFFD (TextDecoder's default), never an exception.
  return { status: res.statusCode, body: new TextDecoder().decode(bytes) };
};
