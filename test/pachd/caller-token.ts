import type * as grpc from '@grpc/grpc-js';

/** The metadata key both generations read the caller's token from. */
export const AUTH_TOKEN_METADATA_KEY = 'authn-token';

export type CallerToken =
  { readonly kind: 'missing' } | { readonly kind: 'several' } | { readonly kind: 'present'; readonly token: string };

/**
 * The `authn-token` values as grpc-go would see them. Node's HTTP/2 layer folds repeated header
 * fields into one comma-joined string before grpc-js sees them, whereas grpc-go keeps each field;
 * splitting on commas restores the count (a real token is hex and never contains one).
 */
export function callerTokenFrom(metadata: grpc.Metadata): CallerToken {
  const values = metadata.get(AUTH_TOKEN_METADATA_KEY);
  if (values.length === 0) return { kind: 'missing' };
  const parts: string[] = [];
  for (const value of values) {
    const text = typeof value === 'string' ? value : value.toString('utf8');
    if (text.includes(',')) {
      for (const piece of text.split(',')) parts.push(piece.trim());
    } else {
      parts.push(text);
    }
  }
  if (parts.length > 1) return { kind: 'several' };
  return { kind: 'present', token: parts[0] ?? '' };
}
