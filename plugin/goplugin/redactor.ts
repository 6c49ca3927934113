export const REDACTED = '[REDACTED]';

/** Gives up what a `hold` kept secret; calling it again does nothing. */
export type Release = () => void;

/**
 * Values that must never leave the process in a log line or an error text, whatever message they
 * hide in, and the names of fields that hold such values. The names let the logger catch secrets
 * passed under a known key; the values catch the rest (a library's error that echoed its input,
 * say). One instance per mount: a value one mount's operator wrote is scrubbed from that mount's
 * lines only, so no mount's secret, however it is shaped, can rewrite another's. A value is held
 * while something needs it secret and forgotten when the last holder lets go, so the set stays
 * as small as the credentials in use.
 *
 * Scrubbing applies to text (a message, a field's string value), never to serialized JSON: a
 * value shaped like JSON syntax must not be able to change the structure around it.
 */
export class Redactor {
  private readonly values = new Map<string, number>();
  private readonly fieldNames = new Set<string>();

  /** Keeps `value` out of every scrubbed text until the release is called. */
  hold(value: string): Release {
    // Short values would scrub ordinary words out of lines; credentials are never this short.
    if (value.length < 8) return () => undefined;
    this.values.set(value, (this.values.get(value) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const holders = (this.values.get(value) ?? 1) - 1;
      if (holders > 0) this.values.set(value, holders);
      else this.values.delete(value);
    };
  }

  /** How many distinct values are held: what each scrub costs. */
  get size(): number {
    return this.values.size;
  }

  /** Values logged under this name are replaced, from now on, in every line. */
  addFieldName(name: string): void {
    this.fieldNames.add(name);
  }

  isSecretFieldName(name: string): boolean {
    return this.fieldNames.has(name);
  }

  scrub(text: string): string {
    let result = text;
    for (const value of this.values.keys()) {
      if (result.includes(value)) result = result.split(value).join(REDACTED);
    }
    return result;
  }

  /** Whether `text` holds a held value. */
  reveals(text: string): boolean {
    for (const value of this.values.keys()) if (text.includes(value)) return true;
    return false;
  }
}
