export const REDACTED = '[REDACTED]';

/**
 * Values that must never leave the process in a log line or an answer, whatever field or message
 * they hide in: the field-name redaction of the logger catches secrets passed under a known key,
 * this catches the rest (a library's error that echoed its input, say). Kept small: one entry
 * per long-lived credential, not one per issued token. One instance per process, handed to
 * whoever writes lines or answers.
 */
export class Redactor {
  private readonly values = new Set<string>();

  add(value: string): void {
    // Short values would scrub ordinary words out of lines; credentials are never this short.
    if (value.length >= 8) this.values.add(value);
  }

  delete(value: string): void {
    this.values.delete(value);
  }

  scrub(text: string): string {
    let result = text;
    for (const value of this.values) {
      if (result.includes(value)) result = result.split(value).join(REDACTED);
    }
    return result;
  }
}
