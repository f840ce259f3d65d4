// Postback signatures: hex HMAC-SHA256 over the sorted parameters, with a timestamp window.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_WINDOW_SECONDS = 300;

/** The signed string: every parameter but `signature`, sorted by name, as k=v joined by "&" (values as received). */
export function canonicalString(params: Record<string, string>): string {
  return Object.keys(params)
    .filter((k) => k !== 'signature')
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&');
}

export function signParams(secret: string, params: Record<string, string>): string {
  return createHmac('sha256', secret).update(canonicalString(params)).digest('hex');
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A secret's SHA-256 digest: looked up or compared instead of the secret, so the time taken says nothing of it. */
export function secretDigest(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** Constant-time equality of two secrets of any lengths (their digests are compared). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(secretDigest(a), secretDigest(b));
}
