/**
 * @file
 * Plugin logs go to stderr as one JSON object per line in hclog's shape, which go-plugin parses
 * and re-logs through the host's logger at the same level. The host reads `@level`,
 * `@message` and `@timestamp` with unchecked string assertions (a number there crashes Vault)
 * and accepts only trace/debug/info/warn/error, and timestamps with exactly six fractional
 * digits; everything else about a line is free key/value pairs.
 */

import pino from 'pino';
import { REDACTED, type Redactor } from './redactor';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  trace(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose lines carry `@module` = this logger's module + "." + name. */
  named(name: string): Logger;
  /** A logger that adds these fields to every line. */
  with(fields: LogFields): Logger;
  /**
   * A logger that also keeps what `redactor` holds out of its lines: the fields it names and the
   * values it holds, wherever they appear in the message or a field's text.
   */
  redacting(redactor: Redactor): Logger;
  isLevelEnabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  /** hclog module name of the root logger, e.g. the plugin's name. */
  module: string;
  level?: LogLevel;
  /**
   * Field names whose values are replaced wherever they appear (top level or one level down),
   * besides those the redactor names.
   */
  redactFields?: readonly string[];
  /** Where lines go; stderr unless a test wants them. */
  write?: (line: string) => void;
  /** Scrubs held secret values out of every line's text, and redacts the fields it names. */
  redactor?: Redactor;
}

export function levelFromEnvironment(fallback: LogLevel): LogLevel {
  const raw = (process.env.PLUGIN_LOG_LEVEL ?? '').trim().toLowerCase();
  const known: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];
  return (known as readonly string[]).includes(raw) ? (raw as LogLevel) : fallback;
}

export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const root = pino(
    {
      level: options.level ?? 'info',
      base: undefined,
      messageKey: '@message',
      timestamp: () => `,"@timestamp":"${hclogTimestamp()}"`,
      formatters: {
        level: (label: string) => ({ '@level': label === 'fatal' ? 'error' : label }),
      },
    },
    { write },
  );
  const named = new Set(options.redactFields ?? []);
  return new PinoLogger(
    root,
    { '@module': options.module },
    { named, redactors: options.redactor === undefined ? [] : [options.redactor] },
  );
}

/**
 * What a logger keeps out of its lines. Asked at every line, not copied: a backend names its
 * sensitive fields, and holds its secrets, after its logger exists.
 */
interface Secrecy {
  named: ReadonlySet<string>;
  redactors: readonly Redactor[];
}

/** Nested values deeper than this are logged as they are: engine lines are flat. */
const SCRUB_DEPTH = 4;

function isSecretField(secrecy: Secrecy, name: string): boolean {
  return secrecy.named.has(name) || secrecy.redactors.some((redactor) => redactor.isSecretFieldName(name));
}

function scrubText(secrecy: Secrecy, text: string): string {
  let result = text;
  for (const redactor of secrecy.redactors) result = redactor.scrub(result);
  return result;
}

/**
 * The fields with secret names replaced and held values scrubbed out of every string, before pino
 * encodes them: whatever a secret looks like, the line stays one valid JSON object. (pino's own
 * `redact` compiles code for its paths, which cost more at start-up than this whole module.)
 */
function redact(fields: LogFields, secrecy: Secrecy): LogFields {
  return redactValue(fields, secrecy, 0) as LogFields;
}

function redactValue(value: unknown, secrecy: Secrecy, depth: number): unknown {
  if (typeof value === 'string') return secrecy.redactors.length === 0 ? value : scrubText(secrecy, value);
  if (typeof value !== 'object' || value === null || depth >= SCRUB_DEPTH) return value;
  if (value instanceof Error) return redactValue({ message: value.message }, secrecy, depth);
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((item: unknown, index) => {
      const replacement = redactValue(item, secrecy, depth + 1);
      if (replacement !== item) (copy ??= [...value])[index] = replacement;
    });
    return copy ?? value;
  }
  let copy: Record<string, unknown> | undefined;
  for (const [key, inner] of Object.entries(value)) {
    const replacement = isSecretField(secrecy, key) ? REDACTED : redactValue(inner, secrecy, depth + 1);
    if (replacement !== inner) (copy ??= { ...(value as Record<string, unknown>) })[key] = replacement;
  }
  return copy ?? value;
}

class PinoLogger implements Logger {
  private readonly sink: pino.Logger;

  // Children are made from the root with all bindings merged, so a line never carries
  // `@module` twice (pino concatenates the bindings of nested children).
  constructor(
    private readonly root: pino.Logger,
    private readonly bindings: LogFields & { '@module': string },
    private readonly secrecy: Secrecy,
  ) {
    this.sink = root.child(redact(bindings, secrecy));
  }

  trace(message: string, fields?: LogFields): void {
    if (this.sink.isLevelEnabled('trace')) this.sink.trace(this.fields(fields), this.message(message));
  }

  debug(message: string, fields?: LogFields): void {
    if (this.sink.isLevelEnabled('debug')) this.sink.debug(this.fields(fields), this.message(message));
  }

  info(message: string, fields?: LogFields): void {
    if (this.sink.isLevelEnabled('info')) this.sink.info(this.fields(fields), this.message(message));
  }

  warn(message: string, fields?: LogFields): void {
    if (this.sink.isLevelEnabled('warn')) this.sink.warn(this.fields(fields), this.message(message));
  }

  error(message: string, fields?: LogFields): void {
    this.sink.error(this.fields(fields), this.message(message));
  }

  named(name: string): Logger {
    return new PinoLogger(
      this.root,
      { ...this.bindings, '@module': `${this.bindings['@module']}.${name}` },
      this.secrecy,
    );
  }

  with(fields: LogFields): Logger {
    return new PinoLogger(
      this.root,
      { ...this.bindings, ...fields, '@module': this.bindings['@module'] },
      this.secrecy,
    );
  }

  redacting(redactor: Redactor): Logger {
    return new PinoLogger(this.root, this.bindings, {
      named: this.secrecy.named,
      redactors: [...this.secrecy.redactors, redactor],
    });
  }

  isLevelEnabled(level: LogLevel): boolean {
    return this.sink.isLevelEnabled(level);
  }

  private fields(fields: LogFields | undefined): LogFields {
    return fields === undefined ? {} : redact(fields, this.secrecy);
  }

  private message(message: string): string {
    return scrubText(this.secrecy, message);
  }
}

/** `2006-01-02T15:04:05.000000Z`: hclog's layout, microseconds included. */
export function hclogTimestamp(epochMicros: number = nowMicros()): string {
  const millis = Math.floor(epochMicros / 1000);
  const micros = Math.floor(epochMicros % 1000);
  const iso = new Date(millis).toISOString(); // ends in .mmmZ
  return `${iso.slice(0, -1)}${String(micros).padStart(3, '0')}Z`;
}

function nowMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}
