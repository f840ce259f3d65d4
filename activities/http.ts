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
const MAX_BODY_BYTES = 64 * 1024;

export const undiciHttp: HttpClient = async ({ method, url, headers, body, timeoutMs }) => {
  const res = await request(url, {
    method,
    headers,
    body,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    signal: AbortSignal.timeout(timeoutMs),
  });
  let text = '';
  for await (const chunk of res.body) {
    if (text.length < MAX_BODY_BYTES) text += chunk.toString();
  }
  return { status: res.statusCode, body: text.slice(0, MAX_BODY_BYTES) };
};
