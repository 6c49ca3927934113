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
  /** Scrubs registered secret values out of every line, and redacts the fields it names. */
  redactor?: Redactor;
}

export function levelFromEnvironment(fallback: LogLevel): LogLevel {
  const raw = (process.env.PLUGIN_LOG_LEVEL ?? '').trim().toLowerCase();
  const known: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];
  return (known as readonly string[]).includes(raw) ? (raw as LogLevel) : fallback;
}

export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const redactor = options.redactor;
  const destination = { write: redactor === undefined ? write : (line: string) => write(redactor.scrub(line)) };
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
    destination,
  );
  const named = new Set(options.redactFields ?? []);
  // Asked at every line, not copied: a backend names its sensitive fields after the logger exists.
  const isSecretField: SecretFieldTest =
    redactor === undefined ? (name) => named.has(name) : (name) => named.has(name) || redactor.isSecretFieldName(name);
  return new PinoLogger(root, { '@module': options.module }, isSecretField);
}

type SecretFieldTest = (name: string) => boolean;

/**
 * Replaces the values of secret fields, at the top level and one level down. (pino's own
 * `redact` compiles code for its paths, which cost more at start-up than this whole module.)
 */
function redact(fields: LogFields, isSecretField: SecretFieldTest): LogFields {
  let copy: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(fields)) {
    const replacement = isSecretField(key) ? REDACTED : redactOneLevel(value, isSecretField);
    if (replacement !== value) {
      copy ??= { ...fields };
      copy[key] = replacement;
    }
  }
  return copy ?? fields;
}

function redactOneLevel(value: unknown, isSecretField: SecretFieldTest): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const entries = Object.entries(value);
  if (!entries.some(([key]) => isSecretField(key))) return value;
  return Object.fromEntries(entries.map(([key, inner]) => [key, isSecretField(key) ? REDACTED : inner]));
}

class PinoLogger implements Logger {
  private readonly sink: pino.Logger;

  // Children are made from the root with all bindings merged, so a line never carries
  // `@module` twice (pino concatenates the bindings of nested children).
  constructor(
    private readonly root: pino.Logger,
    private readonly bindings: LogFields & { '@module': string },
    private readonly isSecretField: SecretFieldTest,
  ) {
    this.sink = root.child(redact(bindings, isSecretField));
  }

  trace(message: string, fields?: LogFields): void {
    if (this.sink.isLevelEnabled('trace')) this.sink.trace(this.fields(fields), message);
  }

  debug(message: string, fields?: LogFields): void {
    if (this.sink.isLevelEnabled('debug')) this.sink.debug(this.fields(fields), message);
  }

  info(message: string, fields?: LogFields): void {
    if (this.sink.isLevelEnabled('info')) this.sink.info(this.fields(fields), message);
  }

  warn(message: string, fields?: LogFields): void {
    if (this.sink.isLevelEnabled('warn')) this.sink.warn(this.fields(fields), message);
  }

  error(message: string, fields?: LogFields): void {
    this.sink.error(this.fields(fields), message);
  }

  named(name: string): Logger {
    return new PinoLogger(
      this.root,
      { ...this.bindings, '@module': `${this.bindings['@module']}.${name}` },
      this.isSecretField,
    );
  }

  with(fields: LogFields): Logger {
    return new PinoLogger(
      this.root,
      { ...this.bindings, ...fields, '@module': this.bindings['@module'] },
      this.isSecretField,
    );
  }

  isLevelEnabled(level: LogLevel): boolean {
    return this.sink.isLevelEnabled(level);
  }

  private fields(fields: LogFields | undefined): LogFields {
    return fields === undefined ? {} : redact(fields, this.isSecretField);
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
