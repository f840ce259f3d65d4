// `leadrouter suppress`: adds people to the suppression list through the admin API (hashed by the gateway).
import { readFileSync } from 'node:fs';
import type { SuppressionResult } from '../../shared/http';
import { CliError } from './api';

export interface SuppressArgs {
  email?: string[];
  phone?: string[];
  hash?: string[];
  file?: string[];
  country?: string;
  reason?: string;
}

/** The request body: flags plus files of one entry a line (an email has `@`, a hash is 64 hex digits, else a phone). */
export function suppressionBody(args: SuppressArgs, readFile = (f: string) => readFileSync(f, 'utf8')) {
  const email = [...(args.email ?? [])];
  const phone = [...(args.phone ?? [])];
  const hash = [...(args.hash ?? [])];
  for (const file of args.file ?? []) {
    let text: string;
    try {
      text = readFile(file);
    } catch (err) {
      throw new CliError(`cannot read ${file}: ${(err as Error).message}`, 2);
    }
    for (const line of text.split(/\r?\n/).map((l) => l.trim())) {
      if (!line || line.startsWith('#')) continue;
      if (line.includes('@')) email.push(line);
      else if (/^[0-9a-f]{64}$/.test(line)) hash.push(line);
      else phone.push(line);
    }
  }
  if (email.length + phone.length + hash.length === 0)
    throw new CliError(
      'usage: leadrouter suppress --email e | --phone p | --hash h | --file list [--country CC]',
      2,
    );
  return { email, phone, hash, country: args.country, reason: args.reason };
}

export function formatSuppression(result: SuppressionResult): string {
  return `suppressed ${result.received} (${result.added} new, ${result.received - result.added} already listed)\n`;
}
