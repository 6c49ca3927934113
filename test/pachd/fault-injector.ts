import type * as grpc from '@grpc/grpc-js';

import { PachdStatusError } from './pachd-status';

/**
 * Which calls a fault applies to: every call ("*" or omitted), one RPC name on any service
 * ("GetAuthToken"), or one full path ("/auth.API/GetAuthToken", leading slash optional).
 */
export type MethodSelector = string | undefined;

type Matcher =
  | { readonly kind: 'all' }
  | { readonly kind: 'method'; readonly method: string }
  | { readonly kind: 'path'; readonly path: string };

function matcherFor(selector: MethodSelector): Matcher {
  if (selector === undefined || selector === '' || selector === '*') return { kind: 'all' };
  if (selector.includes('/')) {
    return { kind: 'path', path: selector.startsWith('/') ? selector : `/${selector}` };
  }
  return { kind: 'method', method: selector };
}

function describe(matcher: Matcher): string {
  switch (matcher.kind) {
    case 'all':
      return '*';
    case 'method':
      return matcher.method;
    case 'path':
      return matcher.path;
  }
}

function matches(matcher: Matcher, path: string, method: string): boolean {
  switch (matcher.kind) {
    case 'all':
      return true;
    case 'method':
      return matcher.method === method;
    case 'path':
      return matcher.path === path;
  }
}

export interface ErrorFault {
  method?: string;
  /** A gRPC status code number, e.g. 14 for UNAVAILABLE. */
  code: number;
  message: string;
  /** How many matching calls fail; omitted means until cleared. */
  count?: number;
}

interface ErrorRule {
  readonly matcher: Matcher;
  readonly code: grpc.status;
  readonly message: string;
  remaining: number | null;
}

export interface FaultPlan {
  delayMs: number;
  error: PachdStatusError | undefined;
}

export interface FaultSnapshot {
  latencyMs: Record<string, number>;
  errors: Array<{ method: string; code: number; message: string; remaining: number | null }>;
}

const NO_FAULT: FaultPlan = Object.freeze({ delayMs: 0, error: undefined });

/**
 * Latency and error injection for the pachd port. Consulted once per call before the handler
 * runs; with nothing configured it answers without allocating, so benchmarks pay nothing.
 */
export class FaultInjector {
  private readonly latencies = new Map<string, { matcher: Matcher; delayMs: number }>();
  private errorRules: ErrorRule[] = [];

  setLatency(selector: MethodSelector, delayMs: number): void {
    if (!Number.isFinite(delayMs) || delayMs < 0) {
      throw new Error(`latency must be a non-negative number of milliseconds, not ${delayMs}`);
    }
    const matcher = matcherFor(selector);
    const key = describe(matcher);
    if (delayMs === 0) this.latencies.delete(key);
    else this.latencies.set(key, { matcher, delayMs });
  }

  addError(fault: ErrorFault): void {
    if (!Number.isInteger(fault.code) || fault.code < 1 || fault.code > 16) {
      throw new Error(`code must be a gRPC error status number (1 to 16), not ${fault.code}`);
    }
    if (fault.count !== undefined && (!Number.isInteger(fault.count) || fault.count < 1)) {
      throw new Error(`count must be a positive integer, not ${fault.count}`);
    }
    this.errorRules.push({
      matcher: matcherFor(fault.method),
      code: fault.code,
      message: fault.message,
      remaining: fault.count ?? null,
    });
  }

  clearErrors(selector?: MethodSelector): void {
    if (selector === undefined) {
      this.errorRules = [];
      return;
    }
    const key = describe(matcherFor(selector));
    this.errorRules = this.errorRules.filter((rule) => describe(rule.matcher) !== key);
  }

  reset(): void {
    this.latencies.clear();
    this.errorRules = [];
  }

  /**
   * What to do to one call. The most specific latency wins (path over method over all); the
   * first error rule that matches fires and uses up one of its counted calls.
   */
  plan(path: string, method: string): FaultPlan {
    if (this.latencies.size === 0 && this.errorRules.length === 0) return NO_FAULT;
    let delayMs = 0;
    let specificity = -1;
    for (const { matcher, delayMs: candidate } of this.latencies.values()) {
      if (!matches(matcher, path, method)) continue;
      const rank = matcher.kind === 'path' ? 2 : matcher.kind === 'method' ? 1 : 0;
      if (rank > specificity) {
        specificity = rank;
        delayMs = candidate;
      }
    }
    let error: PachdStatusError | undefined;
    const index = this.errorRules.findIndex((rule) => matches(rule.matcher, path, method));
    if (index >= 0) {
      const rule = this.errorRules[index];
      if (rule !== undefined) {
        error = new PachdStatusError(rule.code, rule.message);
        if (rule.remaining !== null) {
          rule.remaining -= 1;
          if (rule.remaining === 0) this.errorRules.splice(index, 1);
        }
      }
    }
    return { delayMs, error };
  }

  snapshot(): FaultSnapshot {
    const latencyMs: Record<string, number> = {};
    for (const [key, { delayMs }] of this.latencies) latencyMs[key] = delayMs;
    return {
      latencyMs,
      errors: this.errorRules.map((rule) => ({
        method: describe(rule.matcher),
        code: rule.code,
        message: rule.message,
        remaining: rule.remaining,
      })),
    };
  }
}
