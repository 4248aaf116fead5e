import { Command, CommanderError } from 'commander';
import { registerAdminCommands } from './commands/admin.js';
import { registerApprovalsCommands } from './commands/approvals.js';
import { registerAuditCommands } from './commands/audit.js';
import { registerGrantsCommands } from './commands/grants.js';
import { fetchCommand } from './commands/fetch.js';
import { registerGatewayCommands } from './commands/gateway.js';
import { httpSign, httpVerify } from './commands/http.js';
import { registerServerCommands } from './commands/servers.js';
import { keygen } from './commands/keygen.js';
import { tokenDecode, tokenMint } from './commands/token.js';
import { UsageError, type CliIo } from './io.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function program(io: CliIo, exit: { code: number }): Command {
  const root = new Command('tessera')
    .description('AAuth (draft-hardt-oauth-aauth-protocol -11): keys, tokens, signed requests, the servers, approvals and administration')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s.trimEnd()), writeErr: (s) => io.stderr(s.trimEnd()) })
    .showSuggestionAfterError();

  root
    .command('keygen')
    .description('print a new private JWK (with alg and kid); --public FILE prints the public JWK of a private one')
    .option('--alg <alg>', 'Ed25519 (default) or ES256')
    .option('--kid <kid>', 'key id (default: the RFC 7638 thumbprint)')
    .option('--public <file>', 'print the public JWK of this private JWK file')
    .action(async (opts: { alg?: string; kid?: string; public?: string }) => {
      exit.code = await keygen(opts, io);
    });

  const token = root.command('token').description('mint (development) and decode AAuth tokens');
  token
    .command('mint')
    .description('mint an agent, person, resource or auth token signed with --key')
    .requiredOption('--type <type>', 'agent | person | resource | auth')
    .requiredOption('--key <file>', 'the issuer private JWK file (needs a kid)')
    .requiredOption('--claims <json>', 'claims as JSON, or @FILE')
    .option('--ttl <seconds>', 'lifetime in seconds (capped per kind)')
    .action(async (opts: { type: string; key: string; claims: string; ttl?: string }) => {
      exit.code = await tokenMint(opts, io);
    });
  token
    .command('decode')
    .description('print header, claims, times as dates, and which offline checks pass')
    .argument('<jwt>', 'the JWT, or @FILE')
    .action(async (jwt: string) => {
      exit.code = await tokenDecode(jwt, io);
    });

  const http = root.command('http').description('sign and verify AAuth requests');
  http
    .command('sign')
    .description('sign a request as an AAuth agent (sig=jwt) and print it as JSON {method,url,headers,body}')
    .requiredOption('--key <file>', 'the agent private JWK file (the key the token binds in cnf.jwk)')
    .requiredOption('--token <jwt>', 'agent, person or auth token, or @FILE')
    .option('--method <method>', 'HTTP method', 'GET')
    .requiredOption('--url <url>', 'absolute target URL')
    .option('-H, --header <header>', "header 'Name: value' (repeatable)", collect, [] as string[])
    .option('--body <text>', 'request body, or @FILE (adds Content-Digest and covers it)')
    .option('--created <epoch>', 'signature created time (default: now)')
    .option('--cover <components>', 'extra components to cover, e.g. "@query"')
    .action(async (opts: { key: string; token: string; method: string; url: string; header: string[]; body?: string; created?: string; cover?: string }) => {
      exit.code = await httpSign(opts, io);
    });
  http
    .command('verify')
    .description('verify a signed request (the JSON `http sign` prints) as an AAuth resource would')
    .argument('[file]', 'request JSON file, or - for standard input', '-')
    .option('--now <epoch>', 'verify as of this time')
    .option('--window <seconds>', 'created window (default 60)')
    .option('--jwks <issuer=file>', "pin an issuer's JWKS (offline; repeatable)", collect, [] as string[])
    .option('--audience <id>', "this resource's identifier (default: the URL origin)")
    .option('--dev', 'development: discovery may use http://localhost issuers')
    .option('--explain', 'print the signature base and each check in order (to stderr)')
    .action(async (file: string, opts: { now?: string; window?: string; jwks: string[]; audience?: string; explain?: boolean; dev?: boolean }) => {
      exit.code = await httpVerify(file, opts, io);
    });

  root
    .command('fetch')
    .description('a curl-like AAuth agent: sign, answer challenges, get tokens from the Person Server, print the response')
    .argument('<url>', 'the resource URL')
    .option('-X, --request <method>', 'HTTP method (default GET, or POST with -d)')
    .option('-H, --header <header>', "header 'Name: value' (repeatable)", collect, [] as string[])
    .option('-d, --data <body>', 'request body, or @FILE (JSON by default)')
    .option('--key <file>', 'the agent private JWK (default: <home>/agent.jwk, created on first use)')
    .option('--agent-token <jwt>', 'an agent token, or @FILE')
    .option('--enrol <url>', 'enrol with this Agent Provider when there is no agent token')
    .option('--ps <url>', "the person's Person Server (default: the agent token's ps claim)")
    .option('--name <name>', 'the agent name to enrol with')
    .option('--home <dir>', 'where keys and tokens persist (default $TESSERA_HOME or ~/.tessera)')
    .option('-i, --include', 'print the status line and headers')
    .option('--explain', 'print each step to stderr: requests, signature bases, challenges, tokens decoded')
    .option('--dev', 'allow http://localhost identifiers (on by default for a localhost URL)')
    .action(async (url: string, opts: Parameters<typeof fetchCommand>[1]) => {
      exit.code = await fetchCommand(url, opts, io);
    });

  // Running the servers (tessera dev / serve / migrate / keys rotate)
  registerServerCommands(root, io, exit);
  // The gateway: any HTTP or MCP upstream as an AAuth resource (tessera gateway --config FILE)
  registerGatewayCommands(root, io, exit);
  // The person's approvals and grants, the audit log, and administration (HTTP clients of the APIs)
  registerApprovalsCommands(root, io, exit);
  registerGrantsCommands(root, io, exit);
  registerAuditCommands(root, io, exit);
  registerAdminCommands(root, io, exit);
  return root;
}

/** Runs the CLI; returns the exit code (0 ok, 1 invalid / failed check, 2 usage or input error). */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const exit = { code: 0 };
  try {
    await program(io, exit).parseAsync([...argv], { from: 'user' });
    return exit.code;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
      return 2; // commander already printed its one-line message
    }
    if (error instanceof UsageError) {
      io.stderr(`tessera: ${error.message}`);
      return 2;
    }
    io.stderr(`tessera: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
