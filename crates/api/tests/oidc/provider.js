// A real OpenID Connect provider (the `oidc-provider` package) for the superset-api
// tests. It listens on 127.0.0.1 on a free port and prints one line,
// `issuer http://127.0.0.1:PORT`, once it is ready.
//
// One client is registered: a native application, so its loopback redirect URI
// (http://127.0.0.1/signin/oidc/callback) matches whatever port the server under test
// got. There are two accounts: `test-account-1`, whose e-mail the provider vouches for
// (email_verified: true), and `test-account-unverified`, someone else claiming the same
// address without proof (email_verified: false; by default in upper case, to show that
// addresses compare case-insensitively). Sign-in needs no form: the interaction
// endpoint logs in the account chosen by the last `POST /test/next-login` (body: the
// account id; `test-account-1` until then) and grants the requested scopes at once, so
// a test's HTTP client only has to follow redirects.
//
// OIDC_MISBEHAVE makes the provider issue ID tokens a relying party must refuse,
// still properly signed with the provider's own key:
//   nonce     the ID token carries a nonce other than the one requested
//   audience  the ID token is addressed to another client
//   resign    (the control) the ID token is re-signed unchanged, and must be accepted:
//             it shows that a refusal in the other modes is for the changed claim
//
// Environment: OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_ACCOUNT_EMAIL, OIDC_ACCOUNT_NAME,
// OIDC_UNVERIFIED_EMAIL.

import http from 'node:http';

import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import Provider from 'oidc-provider';

const clientId = process.env.OIDC_CLIENT_ID ?? 'superset-api-test';
const clientSecret = process.env.OIDC_CLIENT_SECRET ?? 'superset-api-test-secret';
const email = process.env.OIDC_ACCOUNT_EMAIL ?? 'ada@example.test';
const accounts = {
  'test-account-1': { email, email_verified: true, name: process.env.OIDC_ACCOUNT_NAME ?? 'Ada Lovelace' },
  'test-account-unverified': {
    email: process.env.OIDC_UNVERIFIED_EMAIL ?? email.toUpperCase(),
    email_verified: false,
    name: 'Eve',
  },
};
let nextLogin = 'test-account-1';
const misbehave = process.env.OIDC_MISBEHAVE ?? '';
if (!['', 'nonce', 'audience', 'resign'].includes(misbehave)) {
  console.error(`unknown OIDC_MISBEHAVE=${misbehave}; expected nonce, audience or resign`);
  process.exit(2);
}

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      application_type: 'native',
      redirect_uris: ['http://127.0.0.1/signin/oidc/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['superset-api-test-cookie-key'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'picture'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...account }) };
  },
});

if (misbehave) {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.method === 'POST' && ctx.path === '/token' && ctx.body?.id_token) {
      ctx.body = { ...ctx.body, id_token: await tamper(ctx.body.id_token) };
    }
  });
}

async function tamper(idToken) {
  const claims = decodeJwt(idToken);
  if (misbehave === 'nonce') claims.nonce = 'a-nonce-nobody-asked-for';
  if (misbehave === 'audience') claims.aud = 'another-client';
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: signingKey.kid }).sign(privateKey);
}

/** Logs the test account in, then grants everything asked for. */
async function interact(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  let result;
  if (prompt.name === 'login') {
    result = { login: { accountId: nextLogin } };
  } else {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    result = { consent: { grantId: await grant.save() } };
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

const handle = provider.callback();
/** `POST /test/next-login`: which account the next sign-in logs in. */
async function chooseNextLogin(req, res) {
  let body = '';
  for await (const chunk of req) body += chunk;
  if (!accounts[body]) {
    res.statusCode = 400;
    res.end(`unknown account ${body}`);
    return;
  }
  nextLogin = body;
  res.statusCode = 204;
  res.end();
}

server.on('request', (req, res) => {
  if (req.method === 'POST' && req.url === '/test/next-login') {
    chooseNextLogin(req, res);
  } else if (req.method === 'GET' && req.url.startsWith('/interaction/')) {
    interact(req, res).catch((err) => {
      console.error('interaction failed:', err);
      res.statusCode = 500;
      res.end(String(err));
    });
  } else {
    handle(req, res);
  }
});

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
console.log(`issuer ${issuer}`);
