/**
 * Who may talk to the server. It binds 127.0.0.1 by default; three checks keep it safe when a
 * browser on the same machine, or a network, can reach it:
 *  - a Host-header allow-list (loopback names by default): a DNS-rebinding page (evil.example
 *    resolving to 127.0.0.1) sends `Host: evil.example`, which is refused (403);
 *  - optional bearer-token auth (`--token-file`), required to bind a non-loopback address unless
 *    `--insecure` says so explicitly;
 *  - POST bodies must be `application/json` (415): a cross-origin page can send text/plain
 *    without a CORS preflight, but not application/json.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { RequestError } from '@lctr/spec';

export class SecurityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecurityError';
  }
}

export const LOOPBACK_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '::1'];

/** Host name as compared: lower case, no port, no IPv6 brackets, no trailing dot. */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) h = h.slice(1, h.indexOf(']') === -1 ? undefined : h.indexOf(']'));
  else if (h.indexOf(':') !== -1 && h.indexOf(':') === h.lastIndexOf(':')) h = h.slice(0, h.indexOf(':'));
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/** localhost, 127.0.0.0/8, ::1 (and ::ffff:127.x): an address only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = normalizeHost(host);
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/**
 * The Host values accepted when none are configured: the loopback names, plus the address the
 * server was told to bind when it is a specific one (an IP literal cannot be rebound by DNS).
 */
export function defaultAllowedHosts(bindHost: string): string[] {
  const h = normalizeHost(bindHost);
  const wildcard = h === '0.0.0.0' || h === '::' || h === '';
  return wildcard || LOOPBACK_HOSTS.includes(h) ? [...LOOPBACK_HOSTS] : [...LOOPBACK_HOSTS, h];
}

/** Refuses to bind a non-loopback address without a token, unless insecure is explicit. */
export function checkBind(host: string, hasToken: boolean, insecure: boolean): void {
  if (!isLoopbackHost(host) && !hasToken && !insecure) {
    throw new SecurityError(
      `--host ${host}: expected a loopback address (127.0.0.1, ::1, localhost) unless --token-file is given (bearer-token auth) or ` +
        `--insecure says so explicitly, got a non-loopback address without either`,
    );
  }
}

/** 403 unless the Host header names an allowed host ('*' in the list allows any). */
export function checkHostHeader(header: string | undefined, allowed: readonly string[]): void {
  if (allowed.includes('*')) return;
  if (header === undefined || !allowed.includes(normalizeHost(header))) {
    const got = header === undefined ? 'nothing (no Host header)' : `'${header.length > 80 ? `${header.slice(0, 80)}...` : header}'`;
    throw new RequestError('host', `one of ${allowed.join(', ')} (--allowed-hosts)`, got, 403);
  }
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Bearer-token check; compares digests in constant time so the answer does not leak the token. */
export class TokenAuth {
  private readonly expected: Buffer;
  constructor(token: string) {
    if (token.length === 0) throw new SecurityError('token: expected a non-empty bearer token, got an empty one');
    this.expected = digest(token);
  }

  /** 401 unless `Authorization: Bearer <token>`; never echoes what came. */
  check(header: string | undefined): void {
    const expected = 'a bearer token (Authorization: Bearer <the --token-file token>)';
    if (header === undefined) throw new RequestError('authorization', expected, 'nothing (no Authorization header)', 401);
    const m = /^bearer[ \t]+(.+)$/i.exec(header.trim());
    if (!m) throw new RequestError('authorization', expected, `a '${header.trim().split(/[ \t]/)[0]!.slice(0, 20)}' credential`, 401);
    if (!timingSafeEqual(digest(m[1]!), this.expected))
      throw new RequestError('authorization', expected, 'a token that does not match', 401);
  }
}

/** 415 unless the media type is application/json (parameters such as charset allowed). */
export function checkJsonContentType(header: string | undefined): void {
  const type = (header ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new RequestError(
      'content-type',
      'application/json',
      header === undefined ? 'nothing (no Content-Type header)' : `'${header.slice(0, 80)}'`,
      415,
    );
  }
}
