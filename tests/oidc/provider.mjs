// A real OpenID provider (the npm package oidc-provider) on loopback, for the single sign-on
// tests: node provider.mjs PORT REDIRECT_URI[,REDIRECT_URI...] ACCOUNTS_JSON
//
// One confidential client "hotline" (secret "hotline-test-secret", client_secret_basic), the
// authorization code flow only, PKCE required. The people are the accounts file, read at every
// sign-in so a test can change someone's claims between two sign-ins:
//   {"anna": {"preferred_username": "anna", "roles": ["hotline-coordinators"], "teams": [...]}}
// The development interactions sign in whoever gives a name from that file (any password) and
// ask for consent. "ready <issuer>" on stdout once it listens.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const [port, redirects, accountsFile] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const people = () => JSON.parse(readFileSync(accountsFile, 'utf8'));
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'hotline',
      client_secret: 'hotline-test-secret',
      redirect_uris: redirects.split(','),
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  pkce: { required: () => true },
  jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: ['a-test-cookie-key-nobody-else-uses'] },
  features: { devInteractions: { enabled: true } },
  claims: { openid: ['sub'], profile: ['preferred_username', 'name', 'email', 'roles', 'teams'] },
  // The claims of the scopes go into the ID token itself, as many providers do for groups.
  conformIdTokenClaims: false,
  async findAccount(_ctx, sub) {
    const person = people()[sub];
    if (!person) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...person }) };
  },
});

const server = provider.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
