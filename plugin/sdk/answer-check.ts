/**
 * @file
 * The last look at an answer before it counts as given. Answers are built by the backend and are
 * never rewritten here: one that would not decode on the host's side, or that reveals a secret
 * its mount holds, is withheld instead, so whatever it carried is treated as never delivered.
 */

import type { Redactor } from '../goplugin/redactor';
import type { WireHandleRequestReply } from './protos';

/** Nesting past this is not looked into; a backend's answers are a few levels deep. */
const INSPECT_DEPTH = 8;

/** Why the host could not take this reply as the backend meant it, or undefined when it can. */
export function answerProblem(reply: WireHandleRequestReply, redactor: Redactor | undefined): string | undefined {
  const response = reply.response;
  if (response === null || response === undefined) return undefined;
  // The host unmarshals both into a map: anything but a JSON object (or null) fails the request there.
  const data = parseObject(response.data);
  if (data === undefined) return 'its data is not a JSON object';
  const secret = response.secret;
  if (secret !== null && secret !== undefined && parseObject(secret.internal_data) === undefined) {
    return "its lease's internal data is not a JSON object";
  }
  if (redactor !== undefined && redactor.size > 0 && reveals(data, redactor, 0)) {
    return "its data holds a value this mount keeps secret (such as the configuration's admin token)";
  }
  return undefined;
}

function parseObject(text: string): object | null | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  return parsed === null || (typeof parsed === 'object' && !Array.isArray(parsed))
    ? (parsed as object | null)
    : undefined;
}

function reveals(value: unknown, redactor: Redactor, depth: number): boolean {
  if (typeof value === 'string') return redactor.reveals(value);
  if (typeof value !== 'object' || value === null || depth >= INSPECT_DEPTH) return false;
  const inner: unknown[] = Array.isArray(value) ? value : Object.values(value);
  return inner.some((item) => reveals(item, redactor, depth + 1));
}
