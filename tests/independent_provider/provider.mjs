// An independent authorization server for tests/oauth_independent.rs: panva's oidc-provider
// (a certified OpenID Provider / OAuth 2.0 server from the npm registry), only CONFIGURED here.
// Nothing in this file decides a protocol question; oidc-provider does.
//
//   node provider.mjs --redirect-uri URL [--port 0] [--access-token-ttl 3]
//   (or PROVIDER_REDIRECT_URI, PROVIDER_PORT, PROVIDER_ACCESS_TOKEN_TTL)
//
// It listens on 127.0.0.1 (port 0: any free one), its issuer is its own http://127.0.0.1:PORT,
// and it prints on stdout, one line each:
//   LISTENING http://127.0.0.1:PORT          once it accepts connections
//   EVENT {"event":…,"client":…,…}           for token-endpoint outcomes (no token values)
// Warnings (development keys, development interactions) go to stderr.
//
// Registered clients, one per token endpoint authentication method (RFC 6749 §2.3.1, OpenID
// Connect Core §9), all for the authorization code grant with refresh tokens:
//   credledger-basic   client_secret_basic   secret BASIC_SECRET
//   credledger-post    client_secret_post    secret POST_SECRET
//   credledger-public  none (public client; oidc-provider requires PKCE for it)
//   test-resource-server: no grants; may introspect any token (as a resource server would).
// PKCE (S256) is required of every client. Refresh tokens rotate on every use. Scopes:
// openid, offline_access, and the resource scopes read/write of one resource server
// (urn:credledger:test-api), used whenever a request names no resource. The built-in
// development login and consent pages (features.devInteractions) accept any login.

import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import process from 'node:process';

import Provider from 'oidc-provider';

// The secrets hold characters that RFC 6749 §2.3.1 makes a client form-urlencode before
// HTTP Basic; a client that skips that step fails against this server.
const BASIC_SECRET = 'basic-secret:with+reserved/chars=';
const POST_SECRET = 'post-secret with spaces&ampersand';
const RESOURCE = 'urn:credledger:test-api';

function option(name, fallback) {
  const flag = `--${name}`;
  const at = process.argv.indexOf(flag);
  if (at !== -1 && at + 1 < process.argv.length) return process.argv[at + 1];
  const env = process.env[`PROVIDER_${name.toUpperCase().replaceAll('-', '_')}`];
  if (env !== undefined && env !== '') return env;
  if (fallback === undefined) {
    console.error(`provider.mjs: ${flag} (or its PROVIDER_ variable) is required`);
    process.exit(2);
  }
  return fallback;
}

const redirectUri = option('redirect-uri');
const port = Number(option('port', '0'));
const accessTokenTtl = Number(option('access-token-ttl', '3'));
if (!Number.isInteger(port) || port < 0 || !Number.isInteger(accessTokenTtl) || accessTokenTtl < 1) {
  console.error('provider.mjs: --port and --access-token-ttl must be whole numbers');
  process.exit(2);
}

// Bind first, so the issuer can name the port the system chose.
let handler = (_req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = createServer((req, res) => handler(req, res));
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const client = {
  redirect_uris: [redirectUri],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
};

const provider = new Provider(issuer, {
  clients: [
    {
      ...client,
      client_id: 'credledger-basic',
      client_secret: BASIC_SECRET,
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      ...client,
      client_id: 'credledger-post',
      client_secret: POST_SECRET,
      token_endpoint_auth_method: 'client_secret_post',
    },
    { ...client, client_id: 'credledger-public', token_endpoint_auth_method: 'none' },
    {
      client_id: 'test-resource-server',
      client_secret: 'resource-server-secret',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  scopes: ['openid', 'offline_access', 'read', 'write'],
  pkce: { required: () => true },
  rotateRefreshToken: true,
  features: {
    devInteractions: { enabled: true },
    introspection: {
      enabled: true,
      allowedPolicy: (_ctx, caller, token) =>
        caller.clientId === 'test-resource-server' || caller.clientId === token.clientId,
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, _client, oneOf) => oneOf ?? RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator) => {
        if (indicator !== RESOURCE) throw new Provider.errors.InvalidTarget();
        return { scope: 'read write', accessTokenTTL: accessTokenTtl, accessTokenFormat: 'opaque' };
      },
    },
  },
  findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  ttl: {
    AccessToken: accessTokenTtl,
    AuthorizationCode: 60,
    IdToken: 300,
    Interaction: 300,
    Session: 600,
    Grant: 600,
    RefreshToken: 600,
  },
});

function emit(event, ctx, extra = {}) {
  const line = {
    event,
    client: ctx?.oidc?.client?.clientId ?? null,
    grant_type: ctx?.oidc?.params?.grant_type ?? null,
    ...extra,
  };
  process.stdout.write(`EVENT ${JSON.stringify(line)}\n`);
}
provider.on('grant.success', (ctx) => emit('grant.success', ctx));
provider.on('grant.error', (ctx, error) => emit('grant.error', ctx, { error: error.error }));
provider.on('grant.revoked', (ctx, grantId) => emit('grant.revoked', ctx, { grant: grantId }));
provider.on('authorization.error', (ctx, error) =>
  emit('authorization.error', ctx, { error: error.error, description: error.error_description }));
provider.on('server_error', (ctx, error) => {
  console.error('provider.mjs server_error', error);
  emit('server_error', ctx);
});

handler = provider.callback();
process.stdout.write(`LISTENING ${issuer}\n`);

// The test kills this process. Should the test die first, its end of our stdin closes: stop.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
