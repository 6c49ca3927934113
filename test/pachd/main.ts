// The pachd stand-in as a process: `scripts/pachd-standin [options]`. Prints one JSON line on
// stdout once both ports listen, logs to stderr, serves until SIGINT/SIGTERM.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import pino from 'pino';

import { type PachdStandinOptions, startPachdStandin } from './standin';

const USAGE = `usage: pachd-standin [options]
  --generation 1|2        pachd generation to emulate (default: from --pachd-version, else 2)
  --pachd-version X.Y.Z   release to emulate (default 1.13.4 for 1, 2.12.0 for 2)
  --listen HOST:PORT      pachd gRPC address, or unix:///path (default 127.0.0.1:0)
  --tls-cert FILE         PEM certificate chain; with --tls-key serves TLS (grpcs://)
  --tls-key FILE          PEM private key
  --idp NAME              1.x ID-provider prefix accepted in subjects (repeatable; default okta)
  --root-token TOKEN      plaintext of the bootstrap root token (default: random)
  --control-listen H:P    HTTP control server address (default 127.0.0.1:0)
  --contention            token writes slow down and stall with concurrency, as on a loaded
                          pachd 2.11.6 (calibrated defaults; POST /faults/contention tunes it)
  --verbose               log every pachd call to stderr
The first stdout line is JSON: address, pachd_address, generation, pachd_version, root_token,
control (the control server's URL) and tls.`;

function fail(message: string): never {
  process.stderr.write(`pachd-standin: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function optionsFromArguments(argv: string[]): PachdStandinOptions & { verbose: boolean } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        generation: { type: 'string' },
        'pachd-version': { type: 'string' },
        listen: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        idp: { type: 'string', multiple: true },
        'root-token': { type: 'string' },
        'control-listen': { type: 'string' },
        contention: { type: 'boolean' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    });
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  const values = parsed.values;
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const options: PachdStandinOptions & { verbose: boolean } = { verbose: values.verbose === true };
  if (values.generation !== undefined) {
    if (values.generation !== '1' && values.generation !== '2') fail('--generation must be 1 or 2');
    options.generation = values.generation === '1' ? 1 : 2;
  }
  if (values['pachd-version'] !== undefined) options.pachdVersion = values['pachd-version'];
  if (values.listen !== undefined) options.listen = values.listen;
  if (values.idp !== undefined && values.idp.length > 0) options.idps = values.idp;
  if (values['root-token'] !== undefined) options.rootToken = values['root-token'];
  if (values['control-listen'] !== undefined) options.controlListen = values['control-listen'];
  if (values.contention === true) options.contention = true;
  const certFile = values['tls-cert'];
  const keyFile = values['tls-key'];
  if ((certFile === undefined) !== (keyFile === undefined)) {
    fail('--tls-cert and --tls-key go together');
  }
  if (certFile !== undefined && keyFile !== undefined) {
    try {
      options.tls = { certPem: readFileSync(certFile), keyPem: readFileSync(keyFile) };
    } catch (error) {
      fail(error instanceof Error ? error.message : String(error));
    }
  }
  return options;
}

async function main(): Promise<void> {
  const options = optionsFromArguments(process.argv.slice(2));
  const logger = pino({ level: options.verbose ? 'debug' : 'info' }, pino.destination(2));
  const standin = await startPachdStandin({ ...options, logger });
  process.stdout.write(
    `${JSON.stringify({
      address: standin.address,
      pachd_address: standin.pachdAddress,
      generation: standin.generation,
      pachd_version: standin.pachdVersion,
      root_token: standin.rootToken,
      control: standin.controlUrl ?? null,
      tls: standin.tls,
    })}\n`,
  );
  const shutDown = (signal: string): void => {
    logger.info({ signal }, 'stopping');
    standin.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutDown('SIGINT'));
  process.once('SIGTERM', () => shutDown('SIGTERM'));
}

main().catch((error: unknown) => {
  process.stderr.write(`pachd-standin: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
