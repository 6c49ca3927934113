import { Redactor } from '../../plugin/goplugin/redactor';
import { badRequest } from '../../plugin/sdk/errors';
import { answerProblem } from '../../plugin/sdk/answer-check';
import type { WireHandleRequestReply } from '../../plugin/sdk/protos';
import { vaultDefinitions } from '../../plugin/sdk/protos';
import { errorToWire, responseToWire, utf8Safe } from '../../plugin/sdk/translation';

function reply(data: string, internalData?: string): WireHandleRequestReply {
  return {
    response: {
      data,
      ...(internalData === undefined
        ? {}
        : {
            secret: {
              lease_options: { TTL: '60', MaxTTL: '60', renewable: true, increment: '0', issue_time: null },
              internal_data: internalData,
              lease_id: '',
            },
          }),
    },
    err: null,
    walIndex: null,
  } as unknown as WireHandleRequestReply;
}

describe('the last look at an answer', () => {
  it('passes an answer the host decodes and that reveals nothing the mount keeps secret', () => {
    const redactor = new Redactor();
    redactor.hold('0123456789abcdef0123456789abcdef');
    const wire = responseToWire({ data: { user_token: 'fedcba9876543210fedcba9876543210', subject: 'robot:ci' } });
    expect(answerProblem({ response: wire, err: null, walIndex: null } as never, redactor)).toBeUndefined();
  });

  it('withholds data that is not a JSON object, or a lease whose internal data is not one', () => {
    expect(answerProblem(reply('{"user_token":"'), undefined)).toMatch(/not a JSON object/);
    expect(answerProblem(reply('[1,2]'), undefined)).toMatch(/not a JSON object/);
    expect(answerProblem(reply('{}', '"x"'), undefined)).toMatch(/internal data is not a JSON object/);
    expect(answerProblem(reply('null'), undefined)).toBeUndefined();
  });

  it('withholds data revealing a held value wherever it hides, instead of rewriting it', () => {
    const redactor = new Redactor();
    redactor.hold('s3cr3t-admin-token');
    const nested = JSON.stringify({ a: { b: ['x', `before s3cr3t-admin-token after`] } });
    expect(answerProblem(reply(nested), redactor)).toMatch(/holds a value this mount keeps secret/);
    // A value another mount holds is nobody's business here.
    expect(answerProblem(reply(nested), new Redactor())).toBeUndefined();
  });

  it('turns lone surrogates into U+FFFD in text the host decodes as protobuf strings', () => {
    const broken = 'subject robot:\ud800x is invalid';
    expect(utf8Safe(broken)).toBe('subject robot:\ufffdx is invalid');
    expect(utf8Safe('emoji \ud83d\ude00 stays')).toBe('emoji \ud83d\ude00 stays');
    const { err } = errorToWire(new Error(broken));
    const bytes = vaultDefinitions.encode('pb.HandleRequestReply', { response: null, err, walIndex: null });
    // The host refuses invalid UTF-8 in a string field; a fatal decoder shows what it would see.
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(bytes)).not.toThrow();
    const warnings = responseToWire({ data: {}, warnings: [broken] }).warnings ?? [];
    expect(warnings[0]).toBe(utf8Safe(broken));
  });

  it('lets an error text be censored before any JSON is built around it', () => {
    const { err, response } = errorToWire(badRequest('bad x'), (text) => text.replace('x', '"}{'));
    expect(err.err_msg).toBe('bad "}{');
    expect(JSON.parse(response?.data ?? '')).toEqual({ error: 'bad "}{' });
  });
});
