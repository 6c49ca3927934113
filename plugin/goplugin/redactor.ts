export const REDACTED = '[REDACTED]';

/**
 * Values that must never leave the process in a log line or an answer, whatever field or message
 * they hide in, and the names of fields that hold such values. The names let the logger catch
 * secrets passed under a known key; the values catch the rest (a library's error that echoed its
 * input, say). Kept small: one value per long-lived credential, not one per issued token. One
 * instance per process, handed to whoever writes lines or answers, and told by the application
 * what is secret: this layer knows no field of its own.
 */
export class Redactor {
  private readonly values = new Set<string>();
  private readonly fieldNames = new Set<string>();

  add(value: string): void {
    // Short values would scrub ordinary words out of lines; credentials are never this short.
    if (value.length >= 8) this.values.add(value);
  }

  delete(value: string): void {
    this.values.delete(value);
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
    for (const value of this.values) {
      if (result.includes(value)) result = result.split(value).join(REDACTED);
    }
    return result;
  }
}
