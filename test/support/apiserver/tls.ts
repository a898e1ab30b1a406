// The double's serving certificate (a self-signed one for 127.0.0.1, made with openssl) and the
// kubeconfig that points client-node at it with a bearer token.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

/** A serving key and certificate (PEM), the certificate doubling as the CA. */
export interface ServingCert {
  readonly key: string;
  readonly cert: string;
}

/** Makes a self-signed certificate for 127.0.0.1 and localhost in `dir` (needs openssl on PATH). */
export function selfSignedCert(dir: string): ServingCert {
  const [key, cert] = [join(dir, 'apiserver.key'), join(dir, 'apiserver.crt')];
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=cellium-apiserver-double',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'pipe' },
  );
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
}

/** Writes a kubeconfig (cluster, user with a token, context) and returns its path. */
export function writeKubeconfig(
  dir: string,
  server: string,
  token: string,
  caPem: string | undefined,
): string {
  const path = join(dir, 'kubeconfig');
  const cluster: Record<string, unknown> = { server };
  if (caPem) cluster['certificate-authority-data'] = Buffer.from(caPem).toString('base64');
  else cluster['insecure-skip-tls-verify'] = true;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'double', cluster }],
    users: [{ name: 'cellium', user: { token } }],
    contexts: [{ name: 'double', context: { cluster: 'double', user: 'cellium' } }],
    'current-context': 'double',
  };
  writeFileSync(path, stringify(doc), { mode: 0o600 });
  return path;
}
